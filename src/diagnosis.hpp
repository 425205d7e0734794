// Diagnosis (SPEC §6 `diagnose`): which known cause best explains a candidate's output. Each
// hypothesis is data, the output it predicts for the case: every built-in mutant (the tiled kernel
// with that one bug), every layout mix-up (golden stored in another axis order, or computed with
// tokens and heads swapped), and `precision` (golden within the error a correct kernel shows).
// The candidate is scored against each prediction in units of a correct kernel's own error, so
// "matches the no-sinks kernel to rounding" beats "is 30 times the rounding error away from golden".
#pragma once

#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/layout.hpp"
#include "src/runner.hpp"

namespace attn {

/// What one hypothesis predicts for a case.
struct HypothesisPrediction {
  std::string name;            // a mutant name, "layout:<x>" or "precision"
  std::string description;     // the cause, in words
  std::string not_applicable;  // why it cannot explain a failure of this case ("" = it can)
  // The candidate output it predicts, bshd as read; empty for precision. Kept as float: every
  // kernel output is one, and golden's float rounding is far below any recipe's error.
  std::vector<float> values;
};

/// Everything diagnosis needs about a case, independent of the candidate. Built once (it runs every
/// mutant), it scores any number of candidates cheaply. It holds one float output per hypothesis
/// (about 20 × 4 bytes per output element).
struct DiagnosisContext {
  std::vector<HypothesisPrediction> hypotheses;  // in tie-break order: precision, mutants, layouts
  double reference_sq = 0.0;    // sum golden², the NMSE denominator (element count if golden is all 0)
  double noise_nmse = 0.0;      // NMSE a correct kernel shows: max(tiled, naive) against golden, floored
  double tiled_max_abs = 0.0;   // the correct tiled kernel's max_abs against golden
  double naive_max_abs = 0.0;   // the eager reference's
  double ulp_floor = 0.0;       // one unit roundoff of the output dtype × max |golden|
  double envelope = 0.0;        // 2 × max(tiled, naive) + ulp_floor: the largest error precision explains
};

/// Runs every mutant and builds every layout prediction for the prepared case. `declared` is the
/// layout the candidate file was read with (mix-ups are relative to it).
DiagnosisContext build_diagnosis_context(PreparedCase& p, Layout declared, int threads);

/// Scores the candidate (bshd as read) against every hypothesis; best first. Applicable hypotheses
/// score 1 / (1 + d), d being the distance from the prediction in units of a correct kernel's
/// error; hypotheses that cannot explain a failure here score 0 and say why. Exact ties (two
/// bugs that give the same output on this case) keep the table order and say so in the evidence.
std::vector<Hypothesis> diagnose(const DiagnosisContext& ctx, const PreparedCase& p, std::span<const double> candidate);

/// build_diagnosis_context + diagnose.
std::vector<Hypothesis> diagnose_case(PreparedCase& p, std::span<const double> candidate, Layout declared, int threads);

/// {"hypotheses": [{"name", "score", "evidence"}]}, best first (SPEC §6).
nlohmann::json diagnosis_to_json(const std::vector<Hypothesis>& h);

/// Up to `top` applicable hypotheses as numbered lines, each starting with `indent`.
std::string render_diagnosis(const std::vector<Hypothesis>& h, std::size_t top, const std::string& indent = "  ");

/// The "diagnosis of <case>:" block printed under a run's table for every diagnosed case.
std::string render_report_diagnoses(const std::vector<CaseResult>& cases, std::size_t top = 3);

/// prepare_case + judge, and when `diagnose_failures` and the verdict is fail, the diagnosis of the
/// candidate's output in CaseResult::diagnosis. `declared` as for build_diagnosis_context.
CaseResult run_case_diagnosed(const CaseSpec& c, const Candidate& cand, const RunOptions& opt, bool diagnose_failures,
                              Layout declared = Layout::bshd);

}  // namespace attn
