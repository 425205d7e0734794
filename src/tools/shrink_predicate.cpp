// The one predicate of `shrink` (src/tools/shrink.hpp): what a failure is (its first failing gate
// and its top diagnose hypothesis), and whether a proposal still fails that way for the candidate
// while the correct tiled kernel passes it.
#include "src/tools/shrink.hpp"

#include <algorithm>

#include "src/base/interrupt.hpp"
#include "src/judge/diagnosis.hpp"

namespace attn {

namespace {

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

}  // namespace

const char* repro_name(Repro r) {
  switch (r) {
    case Repro::same_failure: return "same failure";
    case Repro::passes: return "passes";
    case Repro::other_failure: return "other failure";
    case Repro::other_diagnosis: return "other top hypothesis";
    case Repro::reference_fails: return "correct kernel fails too";
    case Repro::candidate_error: return "candidate error";
    case Repro::unsupported: return "unsupported";
  }
  return "?";
}

FailureReason failure_reason(const CaseResult& r) {
  FailureReason f;
  if (r.verdict != Verdict::fail) return f;
  for (const GateResult& g : r.gates)
    if (!g.pass) f.failing.push_back(g.name);
  if (r.vs_golden.nan_candidate + r.vs_golden.inf_candidate > 0) f.failing.push_back(kNonFinite);
  for (const TensorResult& t : r.tensors) {  // a backward case's tensors (SPEC §10), named as in reports
    for (const GateResult& g : t.gates)
      if (!g.pass) f.failing.push_back(t.name + ": " + g.name);
    if (t.vs_golden.nan_candidate + t.vs_golden.inf_candidate > 0) f.failing.push_back(t.name + ": " + kNonFinite);
  }
  if (!f.failing.empty()) f.gate = f.failing.front();
  return f;
}

std::string top_hypothesis(PreparedCase& p, const CaseResult& r, const std::vector<double>& output,
                           const BackwardTensors& tensors, int threads) {
  if (output.size() != p.golden.size()) return "";
  // The hypothesis that explains the failure (src/judge/diagnosis.hpp), or none: a nearest one is no
  // cause. The output's diagnosis when it failed, else the tensors'.
  CaseResult diagnosed = r;
  diagnose_failure(p, output, tensors, Layout::bshd, threads, &diagnosed);
  return diagnosis_verdict(diagnosed.diagnosis, true).explained_by;
}

bool reference_passes(PreparedCase& p, int threads) {
  // A backward case: the correct kernel must pass every tensor too, as `run` judges it.
  if (p.spec.backward)
    return judge(p, tiled_candidate(threads), {.threads = threads, .worst = 0, .breakdown = false}).verdict ==
           Verdict::pass;
  const Metrics& t = p.tiled_vs_golden(threads);
  if (t.nan_candidate + t.inf_candidate > 0) return false;
  const std::vector<GateResult> gates =
      evaluate_gates(p.spec.gates, {.vs_golden = t,
                                    .naive_vs_golden = p.naive_vs_golden,
                                    .expected_vs_golden = nullptr,
                                    .golden_max_abs_value = p.golden_max_abs_value,
                                    .output = p.spec.recipe.output,
                                    .probs_rounding = p.probs_rounding,
                                    .default_tolerance = p.spec.tolerance.atol == default_tolerance(p.spec.recipe).atol &&
                                                         p.spec.tolerance.rtol == default_tolerance(p.spec.recipe).rtol,
                                    .narrow_internals = p.spec.recipe.narrow_internals()});
  return std::all_of(gates.begin(), gates.end(), [](const GateResult& g) { return g.pass; });
}

Predicate::Predicate(Candidate cand, FailureReason reason, int threads, bool reference_guard, bool diagnose)
    : cand_(std::move(cand)), reason_(std::move(reason)), threads_(threads), reference_guard_(reference_guard),
      diagnose_(diagnose || !reason_.hypothesis.empty()) {}

Repro Predicate::operator()(const CaseSpec& c, std::string* note, std::string* top) const {
  if (!unsupported_reason(c, cand_).empty()) return Repro::unsupported;
  try {
    PreparedCase p = prepare_case(c, threads_);
    std::vector<double> output;  // the candidate's output and tensors, for the diagnosis
    BackwardTensors tensors;
    const CaseResult r = judge(p, cand_, {.threads = threads_, .worst = 0, .breakdown = false,
                                          .keep_candidate = diagnose_ ? &output : nullptr,
                                          .keep_tensors = diagnose_ ? &tensors : nullptr});
    if (r.verdict == Verdict::error) {
      if (note) *note = r.error;
      return Repro::candidate_error;
    }
    if (r.verdict != Verdict::fail) return Repro::passes;
    if (!contains(failure_reason(r).failing, reason_.gate)) return Repro::other_failure;
    if (reference_guard_ && !reference_passes(p, threads_)) return Repro::reference_fails;
    if (diagnose_) {  // last: it runs every mutant, so only on a case that reproduces otherwise
      const std::string h = top_hypothesis(p, r, output, tensors, threads_);
      if (top) *top = h;
      if (!reason_.hypothesis.empty() && h != reason_.hypothesis) return Repro::other_diagnosis;
    }
    return Repro::same_failure;
  } catch (const Interrupted&) {  // Ctrl-C: the whole reduction stops (src/base/interrupt.hpp)
    throw;
  } catch (const std::exception& e) {  // a crashing candidate is a run that did not reproduce
    if (note) *note = e.what();
    return Repro::candidate_error;
  } catch (...) {
    if (note) *note = "unknown exception";
    return Repro::candidate_error;
  }
}

}  // namespace attn
