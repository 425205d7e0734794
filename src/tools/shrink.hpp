// Shrinking a failing case (STYLE 10, C-Reduce style): small passes that each propose smaller
// versions of a case, one predicate that decides whether a proposal still fails the same way, and
// a driver that applies the passes in table order until none of them makes progress.
//
// Works on any Candidate (a mutant, an external command, ...): the candidate is only ever called
// through the predicate, and a candidate that crashes or errors on a proposal makes that proposal
// "does not reproduce", never the end of the shrink.
//
// One header, a file per concept: the predicate in shrink_predicate.cpp, the passes in
// shrink_passes.cpp, the driver in shrink.cpp, and what a reduction writes (a case as config
// text, a step as its change, the suite file and the JSON of the reduction) in shrink_repro.cpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/judge/runner.hpp"
#include "src/suite/config.hpp"

namespace attn {

/// What a smaller case must keep of the original failure.
struct FailureReason {
  // The original's first failing gate (case gate order), or kNonFinite; a backward tensor's as
  // "<tensor>: <gate>" (e.g. "dq: max_abs_vs_naive"), after the output's.
  std::string gate;
  std::vector<std::string> failing;  // every gate the original failed, for the log
  // The top `diagnose` hypothesis of the failure ("" = not part of the reason: the failure is not
  // diagnose-able, or diagnosis is off). A smaller case must rank the same hypothesis first.
  std::string hypothesis;
};
/// The reason used when no gate fails but the candidate produced NaN/Inf where golden is finite.
inline constexpr const char* kNonFinite = "non-finite";

/// The failure reason of a failed result; empty `gate` when the result did not fail.
FailureReason failure_reason(const CaseResult& r);

/// What the predicate says about one proposal.
enum class Repro {
  same_failure,     // fails, and `reason.gate` is among the failing gates: the proposal is accepted
  passes,           // the candidate passes it
  other_failure,    // fails, but not on the original's first failing gate
  other_diagnosis,  // fails on that gate, but `diagnose` ranks another hypothesis first
  reference_fails,  // the correct tiled kernel fails the proposal too: the case, not the bug, fails
  candidate_error,  // the candidate crashed, timed out or produced no output
  unsupported,      // the candidate cannot run the proposal
};
const char* repro_name(Repro r);

/// The one predicate. A proposal reproduces when the candidate's verdict is `fail` with
/// `reason.gate` failing, (when `reference_guard` is on) the correct tiled kernel passes the same
/// case with the same gates — a proposal that fails for the correct kernel too shows a gate that
/// does not fit the case any more, not the candidate's bug — and (when `reason.hypothesis` is set)
/// `diagnose` ranks that hypothesis first for the candidate's output.
class Predicate {
 public:
  /// `diagnose`: also diagnose proposals that reproduce when `reason.hypothesis` is empty, to
  /// learn their top hypothesis (the driver pins it when the original was too big to diagnose).
  Predicate(Candidate cand, FailureReason reason, int threads, bool reference_guard = true, bool diagnose = false);
  /// Runs the candidate on `c`. `note` (optional) receives a candidate error's message; `top`
  /// (optional) the top hypothesis of a proposal that was diagnosed.
  Repro operator()(const CaseSpec& c, std::string* note = nullptr, std::string* top = nullptr) const;
  const FailureReason& reason() const { return reason_; }

 private:
  Candidate cand_;
  FailureReason reason_;
  int threads_;
  bool reference_guard_;
  bool diagnose_;
};

/// The name of the hypothesis that explains the failure `r` of the candidate's `output` and `tensors`
/// on the prepared case (the output's diagnosis when it failed, else the tensors'), or "" when none
/// does.
std::string top_hypothesis(PreparedCase& p, const CaseResult& r, const std::vector<double>& output,
                           const BackwardTensors& tensors, int threads);

/// Whether the correct tiled kernel passes the gates of a prepared case (on a backward case, every
/// tensor's too).
bool reference_passes(PreparedCase& p, int threads);

/// A pass proposes smaller versions of a case, best (smallest) first; it never runs anything.
/// Proposals may be invalid (the driver validates them through the config loader and drops those).
struct ShrinkPass {
  const char* name;
  const char* description;
  std::vector<CaseSpec> (*propose)(const CaseSpec&);
};
/// The passes in the order the driver runs them.
const std::vector<ShrinkPass>& shrink_passes();

/// Values in [lo, n), smallest first: lo, halvings of n and of the distance from lo, then n - 1 —
/// the big steps of delta debugging first, then one by one.
std::vector<std::int64_t> smaller_values(std::int64_t n, std::int64_t lo);

/// The case as its config would load it back, or false when a proposal breaks a rule of the
/// loader (shape invariants, GQA divisibility, sinks length, ...).
bool revalidate(const CaseSpec& c, CaseSpec* out, std::string* why = nullptr);

/// The case as a config object with only the keys that differ from what the loader would default
/// to (loading it gives exactly `c` back).
nlohmann::ordered_json compact_case_json(const CaseSpec& c);

/// "tokens 4096→64, tiles 128x2048→2x32": the fields that differ between two cases.
std::string describe_change(const CaseSpec& from, const CaseSpec& to);

struct ShrinkStep {
  std::string pass;
  std::string change;  // describe_change of the step
  CaseSpec result;
  int runs = 0;        // predicate runs so far
  double seconds = 0;  // since the reduction began
};

/// A proposal the candidate crashed, timed out or errored on: counted as not reproducing.
struct CandidateErrorRecord {
  std::string pass;
  CaseSpec proposal;
  std::string message;
};

struct ShrinkProgress {
  const char* pass;
  const CaseSpec* trying;
  int runs;
  double seconds;
};

struct ShrinkResult;

struct ShrinkOptions {
  int threads = 1;
  int max_runs = 2000;       // predicate runs after the original's verification
  double max_seconds = 30;   // wall time of the reduction, after the original's verification
  bool reference_guard = true;
  // Keep the original's top `diagnose` hypothesis. Diagnosing runs every mutant, so the original is
  // diagnosed only when that is estimated to take at most `max_diagnose_seconds`; otherwise the
  // hypothesis is pinned on the first smaller case that fails the same gate.
  bool same_diagnosis = true;
  double max_diagnose_seconds = 5;
  std::function<void(const ShrinkResult&)> on_verified;  // the original fails: reason known
  std::function<void(const ShrinkStep&)> on_step;          // each accepted reduction
  std::function<void(const ShrinkProgress&)> on_progress;  // before each predicate run
};

struct ShrinkResult {
  static constexpr std::size_t kMaxErrorRecords = 20;
  enum class Status { shrunk, not_failing, unsupported, candidate_error };
  Status status = Status::candidate_error;
  std::string message;      // why the original cannot be shrunk (status != shrunk)
  CaseResult original;      // the verification run
  FailureReason reason;
  bool reference_guard = true;  // off when the correct kernel fails the original too
  // Where reason.hypothesis comes from: "original", "step N" (the original was too big to
  // diagnose in time), or "" with the reason in diagnosis_note.
  std::string hypothesis_from;
  std::string diagnosis_note;
  CaseSpec minimal;
  std::vector<ShrinkStep> steps;
  int runs = 0;
  std::map<Repro, int> outcomes;                // runs by predicate outcome
  std::vector<CandidateErrorRecord> candidate_errors;  // the first kMaxErrorRecords
  int over_budget = 0;                          // proposals skipped as too slow for the time left
  double verify_seconds = 0, shrink_seconds = 0;
  double diagnose_seconds = 0;  // diagnosing the original (part of verify_seconds)
  std::string stopped;  // "fixpoint", "max-runs" or "max-seconds"
};

/// Verifies that `cand` fails `c`, then shrinks it. The returned `minimal` fails for the same
/// reason; it is `c` itself when nothing smaller does.
ShrinkResult shrink_case(const CaseSpec& c, const Candidate& cand, const ShrinkOptions& opt);

/// "shrunk", "not-failing", "unsupported" or "candidate-error".
const char* shrink_status_name(ShrinkResult::Status s);

/// The minimal case under its own name (CASE_min), with the candidate `kernel`, the gate, the top
/// hypothesis and where it came from in its tags, so a regression test can replay it with the
/// same candidate and check the same gate and diagnosis.
CaseSpec named_minimal(const ShrinkResult& r, const CaseSpec& original, const std::string& kernel);

/// What `shrink --out` writes: a suite holding `minimal` (named_minimal) as its compact config,
/// which `attn-diff run` accepts as is.
nlohmann::ordered_json shrunk_suite(const CaseSpec& minimal, const ShrinkResult& r, const CaseSpec& original,
                                    const std::string& config, const std::string& kernel);

/// What `shrink --json` writes (schema attn-diff.shrink.v1): the original, the reason, every step,
/// the minimal case, the runs by outcome and the candidate errors, each case as compact_case_json.
nlohmann::ordered_json shrink_report_json(const ShrinkResult& r, const CaseSpec& original, const CaseSpec& minimal,
                                          const std::string& config, const std::string& kernel);

}  // namespace attn
