// attn-diff: differential testing of attention kernels. This file only wires subcommands.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "src/base/diagnostic.hpp"
#include "src/cli/bench.hpp"
#include "src/cli/calibrate.hpp"
#include "src/cli/common.hpp"
#include "src/cli/compare.hpp"
#include "src/cli/diagnose.hpp"
#include "src/cli/dump.hpp"
#include "src/cli/hugepages.hpp"
#include "src/cli/merge.hpp"
#include "src/cli/mutate.hpp"
#include "src/cli/run.hpp"
#include "src/cli/shrink.hpp"
#include "src/cli/validate.hpp"

namespace {

// `attn-diff run ... | head`: a reader that stops early must not kill the run before it writes its
// reports. SIGPIPE gets a handler that does nothing, so a write to the closed pipe fails with EPIPE
// instead: stdio keeps the error, the rest of the printing is lost, the reports are still written
// and the exit code is the verdict's. A handler rather than SIG_IGN because a caught signal is reset
// to its default in the commands attn-diff starts (--candidate-cmd), an ignored one would stay ignored.
void on_sigpipe(int) {}

void survive_closed_stdout() {
  struct sigaction sa {};
  sa.sa_handler = on_sigpipe;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPIPE, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  survive_closed_stdout();
  attn::use_huge_pages(argv);
  CLI::App app{"attn-diff " ATTN_DIFF_VERSION
               ": differential testing of attention kernels (golden float64 SDPA vs naive vs tiled).\n\n"
               "Examples:\n"
               "  attn-diff --config configs/phase1.json            # same as 'attn-diff run --config ...'\n"
               "  attn-diff run -c configs/phase1.json --case 'sinks*' --json report.json\n"
               "  attn-diff run -c configs/phase1.json --mutant window_off_by_one --html report.html --junit junit.xml\n"
               "  attn-diff run -c configs/phase2.json --shard 1/2 --json s1.json   # and 2/2 in another CI job\n"
               "  attn-diff merge s1.json s2.json --json all.json --md summary.md\n"
               "  attn-diff run -c configs/phase1.json --baseline yesterday.json  # fails on >10% error growth\n"
               "  attn-diff bench --window 128 -j 2 --json bench.json   # time the kernels on the gpt-oss shape\n"
               "  attn-diff validate -c my_suite.json\n",
               "attn-diff"};
  app.set_version_flag("--version", ATTN_DIFF_VERSION);
  app.require_subcommand(1);
  // The error alone, like a compiler's, with a pointer to the help: a full --help printed after it
  // buried the one line that mattered in CI logs. What the user typed is escaped (printable()).
  app.failure_message([](const CLI::App* root, const CLI::Error& e) {
    std::string command = "attn-diff";
    for (const CLI::App* sub : root->get_subcommands()) command += " " + sub->get_name();
    return "error: " + attn::printable(e.what()) + "\nnote: `" + command +
           " --help` lists the options and the values they take\n";
  });

  attn::RunCommandOptions run_opt;
  attn::setup_run(*app.add_subcommand("run", "run every case of a suite and judge the tiled kernel"), run_opt);
  attn::ValidateOptions validate_opt;
  attn::setup_validate(*app.add_subcommand("validate", "check a suite file without running it and list its cases"), validate_opt);

  attn::CalibrateOptions calibrate_opt;
  attn::setup_calibrate(*app.add_subcommand("calibrate", "run the correct kernel and the legitimate variants over many seeds and report gate margins"),
                        calibrate_opt);

  attn::MutateOptions mutate_opt;
  attn::setup_mutate(*app.add_subcommand("mutate", "run every mutant against every case: which cases kill which bug"),
                     mutate_opt);
  attn::setup_list_mutants(*app.add_subcommand("list-mutants", "list the built-in mutants and the bug each models"));

  attn::DumpOptions dump_opt;
  attn::setup_dump(*app.add_subcommand("dump", "write cases' inputs and reference outputs for an external kernel (--case, a glob, or --all)"),
                   dump_opt);
  attn::CompareOptions compare_opt;
  attn::setup_compare(*app.add_subcommand("compare", "judge an external kernel's output against a dump"), compare_opt);
  attn::DiagnoseOptions diagnose_opt;
  attn::setup_diagnose(*app.add_subcommand("diagnose", "rank the likely causes of an external output's mismatch"),
                       diagnose_opt);
  attn::ShrinkCommandOptions shrink_opt;
  attn::setup_shrink(*app.add_subcommand("shrink", "reduce a failing case to the smallest one that fails the same way"),
                     shrink_opt);

  attn::BenchCommandOptions bench_opt;
  attn::setup_bench(*app.add_subcommand("bench", "validate, then time golden, naive, tiled and the metrics on a case or shape"),
                    bench_opt);
  attn::MergeOptions merge_opt;
  attn::setup_merge(*app.add_subcommand("merge", "join the JSON reports of the shards of one run into one, with the verdict of the whole"),
                    merge_opt);

  // `attn-diff --config FILE ...` is `attn-diff run --config FILE ...` (SPEC §6).
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0].starts_with("-") && args[0] != "--help" && args[0] != "-h" && args[0] != "--version")
    args.insert(args.begin(), "run");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? attn::kExitPass : attn::kExitUsage;
  }
  if (app.got_subcommand("run")) return attn::run_run(run_opt);
  if (app.got_subcommand("validate")) return attn::run_validate(validate_opt);
  if (app.got_subcommand("mutate")) return attn::run_mutate(mutate_opt);
  if (app.got_subcommand("list-mutants")) return attn::run_list_mutants();
  if (app.got_subcommand("calibrate")) return attn::run_calibrate(calibrate_opt);
  if (app.got_subcommand("dump")) return attn::run_dump(dump_opt);
  if (app.got_subcommand("compare")) return attn::run_compare(compare_opt);
  if (app.got_subcommand("diagnose")) return attn::run_diagnose(diagnose_opt);
  if (app.got_subcommand("shrink")) return attn::run_shrink(shrink_opt);
  if (app.got_subcommand("bench")) return attn::run_bench(bench_opt);
  if (app.got_subcommand("merge")) return attn::run_merge(merge_opt);
  return attn::kExitUsage;
}
