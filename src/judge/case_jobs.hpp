// Judging the cases of a run several at a time (`run --candidate-jobs N`): each job has its own
// candidate (its own external process or worker), cases are handed out in suite order, and the
// results come back in suite order whatever finished first. Every computation of a case is
// deterministic and independent of the others, so the results are bit-identical to a serial run.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/io/layout.hpp"
#include "src/judge/runner.hpp"

namespace attn {

struct CaseJobs {
  std::vector<Candidate> candidates;  // one per job (at least one); a job uses only its own
  RunOptions run;                     // per case; run.threads is each job's thread count
  bool diagnose = false;              // diagnose failing cases (run_case_diagnosed)
  Layout declared = Layout::bshd;
  // Told, under a lock, when a case starts: how many cases have finished so far, and its name.
  std::function<void(std::size_t finished, const std::string& name)> on_start;
};

struct CaseJobsResult {
  std::vector<std::optional<CaseResult>> results;  // per case, in the order given; nullopt: not run
  bool interrupted = false;  // a stop signal ended the run: the cases that had not finished are nullopt
};

/// Runs every case, min(jobs, cases) at a time. A stop signal (src/base/interrupt.hpp) starts no new
/// case and drops the ones in progress; any other exception is rethrown once every job has stopped.
CaseJobsResult run_case_jobs(const std::vector<const CaseSpec*>& cases, const CaseJobs& jobs);

}  // namespace attn
