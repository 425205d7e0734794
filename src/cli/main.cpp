// attn-diff: differential testing of attention kernels. This file only wires subcommands.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
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

// The options of every subcommand, filled in by CLI11 as it parses.
struct Commands {
  attn::RunCommandOptions run;
  attn::ValidateOptions validate;
  attn::CalibrateOptions calibrate;
  attn::MutateOptions mutate;
  attn::DumpOptions dump;
  attn::CompareOptions compare;
  attn::DiagnoseOptions diagnose;
  attn::ShrinkCommandOptions shrink;
  attn::BenchCommandOptions bench;
  attn::MergeOptions merge;
};

// The command line: every subcommand with its options bound to `opt`.
std::unique_ptr<CLI::App> make_app(Commands& opt) {
  auto app = std::make_unique<CLI::App>(
      "attn-diff " ATTN_DIFF_VERSION
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
      "attn-diff");
  app->set_version_flag("--version", ATTN_DIFF_VERSION);
  app->require_subcommand(1);
  // The error alone, like a compiler's, with a pointer to the help: a full --help printed after it
  // buried the one line that mattered in CI logs. What the user typed is escaped (printable()).
  app->failure_message([](const CLI::App* root, const CLI::Error& e) {
    std::string command = "attn-diff";
    for (const CLI::App* sub : root->get_subcommands()) command += " " + sub->get_name();
    return "error: " + attn::printable(e.what()) + "\nnote: `" + command +
           " --help` lists the options and the values they take\n";
  });

  attn::setup_run(*app->add_subcommand("run", "run every case of a suite and judge the tiled kernel"), opt.run);
  attn::setup_validate(*app->add_subcommand("validate", "check a suite file without running it and list its cases"), opt.validate);
  attn::setup_calibrate(*app->add_subcommand("calibrate", "run the correct kernel and the legitimate variants over many seeds and report gate margins"),
                        opt.calibrate);
  attn::setup_mutate(*app->add_subcommand("mutate", "run every mutant against every case: which cases kill which bug"),
                     opt.mutate);
  attn::setup_list_mutants(*app->add_subcommand("list-mutants", "list the built-in mutants and the bug each models"));
  attn::setup_dump(*app->add_subcommand("dump", "write cases' inputs and reference outputs for an external kernel (--case, a glob, or --all)"),
                   opt.dump);
  attn::setup_compare(*app->add_subcommand("compare", "judge an external kernel's output against a dump (or a folder of outputs against a dump --all tree)"), opt.compare);
  attn::setup_diagnose(*app->add_subcommand("diagnose", "rank the likely causes of an external output's mismatch"),
                       opt.diagnose);
  attn::setup_shrink(*app->add_subcommand("shrink", "reduce a failing case to the smallest one that fails the same way"),
                     opt.shrink);
  attn::setup_bench(*app->add_subcommand("bench", "validate, then time golden, naive, tiled and the metrics on a case or shape"),
                    opt.bench);
  attn::setup_merge(*app->add_subcommand("merge", "join the JSON reports of the shards of one run into one, with the verdict of the whole"),
                    opt.merge);
  return app;
}

// The arguments as CLI11 takes them: reversed, with `attn-diff --config FILE ...` read as
// `attn-diff run --config FILE ...` (SPEC §6).
std::vector<std::string> arguments(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0].starts_with("-") && args[0] != "--help" && args[0] != "-h" && args[0] != "--version")
    args.insert(args.begin(), "run");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  return args;
}

// CLI11 reads `attn-diff no-such-command` as a missing subcommand ("A subcommand is required");
// a misspelt command deserves its own name in the message, and the list of the real ones.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return "";
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == argv[1]) return "";
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return "error: unknown command '" + attn::printable(argv[1]) + "'\nnote: the commands are " + names +
         "; `attn-diff --help` describes them\n";
}

// Runs the subcommand the command line named.
int dispatch(const CLI::App& app, const Commands& opt) {
  if (app.got_subcommand("run")) return attn::run_run(opt.run);
  if (app.got_subcommand("validate")) return attn::run_validate(opt.validate);
  if (app.got_subcommand("mutate")) return attn::run_mutate(opt.mutate);
  if (app.got_subcommand("list-mutants")) return attn::run_list_mutants();
  if (app.got_subcommand("calibrate")) return attn::run_calibrate(opt.calibrate);
  if (app.got_subcommand("dump")) return attn::run_dump(opt.dump);
  if (app.got_subcommand("compare")) return attn::run_compare(opt.compare);
  if (app.got_subcommand("diagnose")) return attn::run_diagnose(opt.diagnose);
  if (app.got_subcommand("shrink")) return attn::run_shrink(opt.shrink);
  if (app.got_subcommand("bench")) return attn::run_bench(opt.bench);
  if (app.got_subcommand("merge")) return attn::run_merge(opt.merge);
  return attn::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  survive_closed_stdout();
  attn::use_huge_pages(argv);
  Commands opt;
  const std::unique_ptr<CLI::App> app = make_app(opt);
  if (const std::string problem = unknown_command(*app, argc, argv); !problem.empty()) {
    std::fputs(problem.c_str(), stderr);
    return attn::kExitUsage;
  }
  std::vector<std::string> args = arguments(argc, argv);
  try {
    app->parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app->exit(e);
    return code == 0 ? attn::kExitPass : attn::kExitUsage;
  }
  return dispatch(*app, opt);
}
