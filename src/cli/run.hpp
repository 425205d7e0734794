// `attn-diff run`: every case of a suite, table on stdout, reports on request.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/cli/report_files.hpp"

namespace attn {

struct RunCommandOptions {
  std::string config;
  std::vector<std::string> cases;  // globs; empty = every case
  std::optional<std::uint64_t> seed;
  std::optional<std::string> precision;  // --precision: every case in this recipe
  int threads = 0;  // 0 = one per core
  ReportFiles reports;   // --json, --junit, --md, --html
  std::string baseline;  // a previous --json report: the baseline_growth gate
  std::string shard;     // "I/N": run only this shard's cases (src/report/shard.hpp)
  std::string mutant;  // run this mutant instead of the correct kernel
  std::string max_memory = "8G";
  int candidate_jobs = 1;  // cases judged at once (src/judge/case_jobs.hpp)
  bool quiet = false;
  bool no_color = false;
  // An external kernel as the candidate (src/judge/external.hpp); command line only, never a config key.
  // Given but empty (an unset CI variable) is refused, not taken as "not given".
  std::optional<std::string> candidate_cmd;
  // Or a persistent worker (src/judge/worker.hpp, SPEC §13), started once; command line only too.
  std::optional<std::string> candidate_worker;
  double timeout = 300;        // seconds per case for --candidate-cmd and --candidate-worker
  bool keep_temp = false;
  std::string layout = "bshd";  // of the command's {out}
  bool bf16_bits = false;
  bool diagnose = false;        // diagnose every failing case (src/judge/diagnosis.hpp)
  bool no_diagnose = false;
};

void setup_run(CLI::App& app, RunCommandOptions& opt);
int run_run(const RunCommandOptions& opt);

}  // namespace attn
