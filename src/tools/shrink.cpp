// The driver of `shrink` (src/tools/shrink.hpp): verify that the candidate fails the original, then
// apply the passes (shrink_passes.cpp) in table order, each to its own fixpoint, keeping every
// proposal the predicate (shrink_predicate.cpp) accepts, until no pass makes progress or the budget
// of runs and seconds is spent.
#include "src/tools/shrink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "kernels/mutants.hpp"
#include "src/base/interrupt.hpp"

namespace attn {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Work of one predicate run, for the time budget: the score matrix dominates.
double work(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  return double(s.batch) * double(s.heads) * double(s.head_dim) * (double(s.tokens) * double(s.kv_tokens) + double(s.tokens + s.kv_tokens));
}

// The original, run once (golden, naive, the correct kernel and the candidate at full size, each
// once): its first failing gate, and its top hypothesis, are what every smaller case must keep.
// Fills res->original, reason, reference_guard, the diagnosis fields, verify_seconds and status.
// Returns whether the original was too big to diagnose, so that the first step's hypothesis is pinned.
bool verify_original(const CaseSpec& c, const Candidate& cand, const ShrinkOptions& opt, ShrinkResult* res) {
  const auto t0 = Clock::now();
  bool pin_hypothesis = false;
  try {
    PreparedCase p = prepare_case(c, opt.threads);
    const auto tiled_start = Clock::now();
    p.tiled_vs_golden(opt.threads);  // judge() and the reference check share it
    const double tiled_seconds = since(tiled_start);
    std::vector<double> output;  // the candidate's output and tensors, for the diagnosis
    BackwardTensors tensors;
    res->original = judge(p, cand, {.threads = opt.threads, .breakdown = false,
                                    .keep_candidate = opt.same_diagnosis ? &output : nullptr,
                                    .keep_tensors = opt.same_diagnosis ? &tensors : nullptr});
    if (res->original.verdict == Verdict::fail) {
      res->reference_guard = opt.reference_guard && reference_passes(p, opt.threads);
      res->reason = failure_reason(res->original);
      // Diagnosis runs every mutant (a tiled kernel run and its metrics each, as the correct kernel's
      // run just took) and judges every mutant and layout prediction; an external candidate's own
      // start-up time does not come into it.
      const double estimate = tiled_seconds * double(mutants().size() + 5);
      if (!opt.same_diagnosis) {
        res->diagnosis_note = "diagnosis is off: smaller cases keep only the failing gate";
      } else if (estimate > opt.max_diagnose_seconds) {
        pin_hypothesis = true;
        res->diagnosis_note = fmt::format("the original is too big to diagnose in {:g} s (about {:.0f} s: every mutant "
                                          "runs on it), so the top hypothesis is taken from the first smaller case that "
                                          "fails the same gate",
                                          opt.max_diagnose_seconds, estimate);
      } else {
        const auto diagnosing = Clock::now();
        res->reason.hypothesis = top_hypothesis(p, res->original, output, tensors, opt.threads);
        res->diagnose_seconds = since(diagnosing);
        if (res->reason.hypothesis.empty()) res->diagnosis_note = "no diagnose hypothesis explains the original's output";
        else res->hypothesis_from = "original";
      }
    }
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    res->original = {.spec = c, .kernel = cand.kernel, .verdict = Verdict::error, .error = e.what()};
  }
  res->verify_seconds = since(t0);
  if (res->original.verdict == Verdict::error) {
    res->status = ShrinkResult::Status::candidate_error;
    res->message = res->original.error;
  } else if (res->original.verdict != Verdict::fail) {
    res->status = ShrinkResult::Status::not_failing;
    res->message = "the candidate passes the case: nothing to shrink";
  } else {
    res->status = ShrinkResult::Status::shrunk;
  }
  return pin_hypothesis;
}

// One reduction of a verified original: its current case, the proposals already tried, and the budget.
class Reduction {
 public:
  Reduction(const CaseSpec& c, const Candidate& cand, const ShrinkOptions& opt, bool pin_hypothesis, ShrinkResult& res)
      : cand_(cand),
        opt_(opt),
        res_(res),
        still_fails_(cand, res.reason, opt.threads, res.reference_guard, pin_hypothesis),
        pin_hypothesis_(pin_hypothesis),
        // Seconds per unit of work, from the verification run (without diagnosing it: a proposal is
        // diagnosed only once it reproduces), to skip proposals the time left cannot pay for.
        seconds_per_work_((res.verify_seconds - res.diagnose_seconds) / std::max(work(c), 1.0)),
        seen_{c.to_json().dump()},
        current_(c),
        start_(Clock::now()) {}

  // Rounds until one makes no progress or the budget is spent; fills res.minimal, stopped and shrink_seconds.
  void run() {
    while (!out_of_budget() && run_round()) {
    }
    if (res_.stopped.empty()) res_.stopped = "fixpoint";
    res_.minimal = current_;
    res_.shrink_seconds = since(start_);
  }

 private:
  // Whether the runs or the seconds are spent; the first time they are, `stopped` says which.
  bool out_of_budget() {
    if (res_.runs >= opt_.max_runs) res_.stopped = "max-runs";
    else if (since(start_) >= opt_.max_seconds) res_.stopped = "max-seconds";
    return !res_.stopped.empty();
  }

  // The passes in table order until one makes progress, which it makes to its own fixpoint. Back
  // to the first pass after any progress: a pass runs only once every pass before it is at its
  // fixpoint, so the inputs are simplified on the smallest shape, not before the shape shrinks
  // (small integers put zeros in places that would hide the bug from a smaller shape).
  bool run_round() {
    for (const ShrinkPass& pass : shrink_passes()) {
      bool progress = false;
      while (!out_of_budget() && advance(pass)) progress = true;
      if (progress || !res_.stopped.empty()) return progress;
    }
    return false;
  }

  // The pass's proposals for the current case, in order, until one still fails the same way: it
  // becomes the current case. False when none does (or the budget ran out).
  bool advance(const ShrinkPass& pass) {
    for (const CaseSpec& raw : pass.propose(current_)) {
      if (out_of_budget()) return false;
      CaseSpec proposal;
      if (!revalidate(raw, &proposal)) continue;
      if (!seen_.insert(proposal.to_json().dump()).second) continue;
      if (seconds_per_work_ * work(proposal) > opt_.max_seconds - since(start_)) {
        ++res_.over_budget;
        continue;
      }
      if (!reproduces(pass, proposal)) continue;
      accept(pass, std::move(proposal));
      return true;
    }
    return false;
  }

  // One predicate run, counted by outcome; a candidate error is recorded, and the first proposal
  // that reproduces pins the top hypothesis when the original was too big to diagnose.
  bool reproduces(const ShrinkPass& pass, const CaseSpec& proposal) {
    if (opt_.on_progress) opt_.on_progress({pass.name, &proposal, res_.runs, since(start_)});
    std::string note, top;
    const Repro r = still_fails_(proposal, &note, &top);
    ++res_.runs;
    ++res_.outcomes[r];
    if (r == Repro::candidate_error && res_.candidate_errors.size() < ShrinkResult::kMaxErrorRecords)
      res_.candidate_errors.push_back({pass.name, proposal, note});
    if (r != Repro::same_failure) return false;
    if (pin_hypothesis_ && !top.empty()) {
      pin_hypothesis_ = false;
      res_.reason.hypothesis = top;
      res_.hypothesis_from = fmt::format("step {}", res_.steps.size() + 1);
      still_fails_ = Predicate(cand_, res_.reason, opt_.threads, res_.reference_guard);
    }
    return true;
  }

  void accept(const ShrinkPass& pass, CaseSpec proposal) {
    ShrinkStep step{.pass = pass.name, .change = describe_change(current_, proposal), .result = proposal,
                    .runs = res_.runs, .seconds = since(start_)};
    current_ = std::move(proposal);
    if (opt_.on_step) opt_.on_step(step);
    res_.steps.push_back(std::move(step));
  }

  const Candidate& cand_;
  const ShrinkOptions& opt_;
  ShrinkResult& res_;
  Predicate still_fails_;
  bool pin_hypothesis_;
  const double seconds_per_work_;
  std::set<std::string> seen_;  // every case tried (and the original), as its JSON
  CaseSpec current_;
  const Clock::time_point start_;
};

}  // namespace

ShrinkResult shrink_case(const CaseSpec& c, const Candidate& cand, const ShrinkOptions& opt) {
  ShrinkResult res;
  res.minimal = c;
  if (std::string why = unsupported_reason(c, cand); !why.empty()) {
    res.status = ShrinkResult::Status::unsupported;
    res.message = why;
    return res;
  }
  const bool pin_hypothesis = verify_original(c, cand, opt, &res);
  if (res.status != ShrinkResult::Status::shrunk) return res;
  if (opt.on_verified) opt.on_verified(res);
  Reduction(c, cand, opt, pin_hypothesis, res).run();
  return res;
}

}  // namespace attn
