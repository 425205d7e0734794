#include "src/cli/run.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "kernels/mutants.hpp"
#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/cli/progress.hpp"
#include "src/cli/run_external.hpp"
#include "src/cli/signals.hpp"
#include "src/judge/case_jobs.hpp"
#include "src/report/baseline.hpp"
#include "src/report/report.hpp"
#include "src/report/shard.hpp"
#include "src/suite/config.hpp"

namespace attn {

void setup_run(CLI::App& app, RunCommandOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file (JSON, SPEC §4)")->required();
  app.add_option("--case", opt.cases, "run only cases whose name matches this glob (repeatable)");
  app.add_option("--seed", opt.seed, "override every case's seed")->transform(seed_value());
  add_precision_option(app, opt.precision);
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  setup_report_files(app, opt.reports);
  app.add_option("--baseline", opt.baseline,
                 "a previous --json report: fail cases whose max_abs or mae grew beyond the baseline_growth gate");
  app.add_option("--shard", opt.shard, "run shard I of N (e.g. 2/4): a stable split of the cases by name for CI jobs");
  app.add_option("--mutant", opt.mutant, "judge this mutant of the tiled kernel instead (see list-mutants)");
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)")->check(byte_size());
  app.add_option("--candidate-jobs", opt.candidate_jobs,
                 "judge N cases at once, each with its own --candidate-cmd process or --candidate-worker (default 1); results and reports "
                 "are in suite order and identical to a serial run")
      ->check(CLI::Range(1, kMaxCommandGroups));
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line and failures; no progress line");
  app.add_flag("--no-color", opt.no_color, "no ANSI colours (also: NO_COLOR=1)");
  setup_run_external(app, opt);
}

namespace {

// Runs the cases under a progress line, `jobs.candidates.size()` at a time, and puts the results in
// suite order; an interruption keeps the cases already done.
void run_selected(const std::vector<const CaseSpec*>& selected, CaseJobs jobs, bool show_progress, RunReport* report) {
  Progress progress(selected.size(), show_progress);
  jobs.on_start = [&progress](std::size_t finished, const std::string& name) { progress.start_case(finished, name); };
  CaseJobsResult done = run_case_jobs(selected, jobs);
  for (std::optional<CaseResult>& r : done.results)
    if (r) report->cases.push_back(std::move(*r));
  if (done.interrupted) {
    report->incomplete = true;
    report->not_run = std::int64_t(selected.size() - report->cases.size());
  }
}

// The report's "run" object (src/report/report.hpp): what must agree between shards for `merge`.
nlohmann::json run_record(const RunCommandOptions& opt, const Candidate& cand) {
  std::string bytes, why;
  read_text_file(opt.config, &bytes, &why);  // load_suite read it a moment ago
  nlohmann::json run = {{"config_digest", fmt::format("fnv1a64:{:016x}", fnv1a64(bytes))},
                        {"seed", opt.seed ? nlohmann::json(*opt.seed) : nlohmann::json(nullptr)},
                        {"candidate", cand.kernel},
                        {"cases", nlohmann::json::array()}};
  // Command-line text may be any bytes; printable() keeps the report valid UTF-8 (JSON).
  for (const std::string& glob : opt.cases) run["cases"].push_back(printable(glob));
  if (opt.precision) run["precision"] = precision_record(*opt.precision);  // only when given: reports without it stay as they were
  if (opt.candidate_cmd) {
    run["candidate_cmd"] = printable(*opt.candidate_cmd);
    run["layout"] = opt.layout;
    run["bf16_bits"] = opt.bf16_bits;
    run["timeout"] = opt.timeout;
  }
  if (opt.candidate_worker) {
    run["candidate_worker"] = printable(*opt.candidate_worker);
    run["layout"] = opt.layout;
    run["bf16_bits"] = opt.bf16_bits;
    run["timeout"] = opt.timeout;
  }
  return run;
}

}  // namespace

int run_run(const RunCommandOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  const InterruptScope stop_on_signal;  // Ctrl-C: report the cases done so far (src/base/interrupt.hpp)
  if (!check_report_files(opt.reports, {{"--config", opt.config}, {"--baseline", opt.baseline}})) return kExitUsage;
  LoadOptions load{.threads = resolve_threads(opt.threads), .seed = opt.seed, .precision = opt.precision};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  std::optional<Shard> shard;
  std::string err;
  if (!opt.shard.empty() && !(shard = parse_shard(opt.shard, &err))) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  BaselineReport baseline;
  if (!opt.baseline.empty() && !load_baseline(opt.baseline, &baseline, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  std::vector<const CaseSpec*> selected;
  std::vector<std::string> suite_cases;
  std::size_t matched = 0;
  for (const CaseSpec& c : suite.cases) {
    suite_cases.push_back(c.name);
    bool match = opt.cases.empty();
    for (const std::string& g : opt.cases) match = match || glob_match(g, c.name);
    matched += match;
    if (match && (!shard || shard_of(c.name, shard->count) == shard->index)) selected.push_back(&c);
  }
  if (matched == 0) {
    std::fprintf(stderr, "%s: error: no case matches --case %s\n", printable(opt.config).c_str(),
                 printable(fmt::format("{}", fmt::join(opt.cases, ", "))).c_str());
    return kExitUsage;
  }

  const MutantInfo* mutant = nullptr;
  if (!opt.mutant.empty() && !(mutant = lookup_mutant(opt.mutant))) return kExitUsage;
  RunReport report{.suite = suite.name, .config_file = opt.config,
                   .shard = shard ? fmt::format("{}/{}", shard->index, shard->count) : ""};
  // Each of the --candidate-jobs jobs shares the threads and has its own candidate: an external
  // one is its own process or worker. The results do not depend on either (src/judge/case_jobs.hpp).
  const int jobs = std::max(1, std::min<int>(opt.candidate_jobs, int(selected.size())));
  const int threads = std::max(1, load.threads / jobs);
  Candidate cand = mutant ? mutant_candidate(*mutant, threads) : tiled_candidate(threads);
  RunExternal ext;  // --candidate-cmd and --diagnose
  if (!apply_run_external(opt, mutant != nullptr, &cand, &ext)) return kExitUsage;
  report.run = run_record(opt, cand);
  CaseJobs case_jobs{.run = {.threads = threads}, .diagnose = ext.diagnose, .declared = ext.layout};
  for (int j = 0; j < jobs; ++j) case_jobs.candidates.push_back(ext.make_candidate ? ext.make_candidate() : cand);
  run_selected(selected, std::move(case_jobs), progress_wanted(opt.quiet), &report);
  if (!opt.baseline.empty()) apply_baseline(baseline, suite_cases, &report);

  return finish_run_report(report, opt.reports, opt.quiet, opt.no_color, start, selected.size(), "run");
}

}  // namespace attn
