#include "src/commands/run.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "kernels/mutants.hpp"
#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/commands/run_external.hpp"
#include "src/diagnosis.hpp"
#include "src/interrupt.hpp"
#include "src/parallel.hpp"
#include "src/report.hpp"
#include "src/report_table.hpp"

namespace attn {

void setup_run(CLI::App& app, RunCommandOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file (JSON, SPEC §4)")->required();
  app.add_option("--case", opt.cases, "run only cases whose name matches this glob (repeatable)");
  app.add_option("--seed", opt.seed, "override every case's seed");
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  app.add_option("--json", opt.json, "write the JSON report v1 to this file");
  app.add_option("--mutant", opt.mutant, "judge this mutant of the tiled kernel instead (see list-mutants)");
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)");
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line and failures");
  app.add_flag("--no-color", opt.no_color, "no ANSI colours (also: NO_COLOR=1)");
  setup_run_external(app, opt);
}

int run_run(const RunCommandOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  const InterruptScope stop_on_signal;  // Ctrl-C: report the cases done so far (src/interrupt.hpp)
  LoadOptions load{.threads = resolve_threads(opt.threads), .seed = opt.seed};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  std::vector<const CaseSpec*> selected;
  for (const CaseSpec& c : suite.cases) {
    bool match = opt.cases.empty();
    for (const std::string& g : opt.cases) match = match || glob_match(g, c.name);
    if (match) selected.push_back(&c);
  }
  if (selected.empty()) {
    std::fprintf(stderr, "%s: error: no case matches --case %s\n", opt.config.c_str(),
                 fmt::format("{}", fmt::join(opt.cases, ", ")).c_str());
    return kExitUsage;
  }

  const MutantInfo* mutant = nullptr;
  if (!opt.mutant.empty() && !(mutant = lookup_mutant(opt.mutant))) return kExitUsage;
  RunReport report{.suite = suite.name, .config_file = opt.config};
  Candidate cand = mutant ? mutant_candidate(*mutant, load.threads) : tiled_candidate(load.threads);
  RunExternal ext;  // --candidate-cmd and --diagnose
  if (!apply_run_external(opt, mutant != nullptr, &cand, &ext)) return kExitUsage;
  for (const CaseSpec* c : selected) {
    try {
      throw_if_interrupted();
      report.cases.push_back(run_case_diagnosed(*c, cand, {.threads = load.threads}, ext.diagnose, ext.layout));
    } catch (const Interrupted&) {
      report.incomplete = true;
      report.not_run = std::int64_t(selected.size() - report.cases.size());
      break;
    }
  }

  const bool color = use_color(opt.no_color);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!opt.quiet) std::fputs(render_table(report, color).c_str(), stdout);
  std::fputs(render_report_diagnoses(report.cases).c_str(), stdout);
  std::fputs(render_summary(report, color, seconds).c_str(), stdout);
  std::fflush(stdout);

  if (!opt.json.empty() && !write_json_file(opt.json, report_to_json(report))) return kExitUsage;
  if (report.incomplete) {
    std::fprintf(stderr, "attn-diff: interrupted: %zu of %zu cases run; the reports cover those only\n",
                 report.cases.size(), selected.size());
    return kExitInterrupted + interrupt_signal();
  }
  if (report.errors()) return kExitRuntime;
  return report.failed() ? kExitFail : kExitPass;
}

}  // namespace attn
