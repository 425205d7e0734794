#include "src/judge/case_jobs.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "src/base/interrupt.hpp"
#include "src/judge/diagnosis.hpp"

namespace attn {

CaseJobsResult run_case_jobs(const std::vector<const CaseSpec*>& cases, const CaseJobs& jobs) {
  CaseJobsResult out;
  out.results.resize(cases.size());
  std::atomic<std::size_t> next{0};
  std::mutex mu;  // guards finished, error and the on_start calls
  std::size_t finished = 0;
  std::exception_ptr error;
  std::atomic<bool> stop{false}, stopped_by_signal{false};
  const auto work = [&](const Candidate& cand) {
    for (std::size_t i; !stop.load() && (i = next.fetch_add(1)) < cases.size();) {
      try {
        throw_if_interrupted();
        if (jobs.on_start) {
          const std::lock_guard lock(mu);
          jobs.on_start(finished, cases[i]->name);
        }
        CaseResult r = run_case_diagnosed(*cases[i], cand, jobs.run, jobs.diagnose, jobs.declared);
        const std::lock_guard lock(mu);
        out.results[i] = std::move(r);
        ++finished;
      } catch (const Interrupted&) {
        stopped_by_signal = true;
        stop = true;
      } catch (...) {
        const std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  const std::size_t n = std::max<std::size_t>(1, std::min(jobs.candidates.size(), cases.size()));
  {
    std::vector<std::jthread> pool;
    for (std::size_t j = 1; j < n; ++j) pool.emplace_back(work, std::cref(jobs.candidates[j]));
    work(jobs.candidates.at(0));
  }  // joined
  if (error) std::rethrow_exception(error);
  out.interrupted = stopped_by_signal.load();
  return out;
}

}  // namespace attn
