// Diagnosis (SPEC §6 `diagnose`): which known cause best explains a candidate's output. Each
// hypothesis is data, the output it predicts for the case: every built-in mutant (the tiled kernel
// with that one bug), every layout mix-up (golden stored in another axis order, or computed with
// tokens and heads swapped), and `precision` (golden within the error a correct kernel shows).
// The candidate is scored against each prediction in units of a correct kernel's own error, so
// "matches the no-sinks kernel to rounding" beats "is 30 times the rounding error away from golden".
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/io/layout.hpp"
#include "src/judge/runner.hpp"

namespace attn {

/// A hypothesis explains the output when its score reaches this: the candidate is within a correct
/// kernel's error of its prediction (score 1 / (1 + d) with d <= 1, in RMS and in max_abs).
constexpr double kExplainsScore = 0.5;
/// How many of the nearest hypotheses an unexplained verdict names.
constexpr std::size_t kNearestShown = 2;

/// What one hypothesis predicts for a case.
struct HypothesisPrediction {
  std::string name;            // a mutant name, "layout:<x>" or "precision"
  std::string description;     // the cause, in words
  std::string not_applicable;  // why it cannot explain a failure of this case ("" = it can)
  // The candidate output it predicts, bshd as read; empty for precision. Kept as float: every
  // kernel output is one, and golden's float rounding is far below any recipe's error.
  std::vector<float> values;
  // The lse it predicts ([B][H][Sq]): a mutant's, from the same tiled pass as its output; empty for
  // the others (use_lse takes golden's for precision and the storage-order mix-ups).
  std::vector<double> lse;
};

/// Everything diagnosis needs about a case, independent of the candidate. Built once (it runs every
/// mutant), it scores any number of candidates cheaply. It holds one float output per hypothesis
/// (about 20 × 4 bytes per output element).
struct DiagnosisContext {
  std::vector<HypothesisPrediction> hypotheses;  // in tie-break order: precision, mutants, layouts
  double reference_sq = 0.0;    // sum golden², the NMSE denominator (element count if golden is all 0)
  double noise_nmse = 0.0;      // NMSE a correct kernel shows: max(tiled, naive) against golden, floored
  double match_nmse = 0.0;      // NMSE between a prediction and a candidate with the same bug: tiled's + noise_nmse
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
/// error: the larger of the RMS distance over a correct kernel's RMS error (× √2) and the max_abs
/// distance over the precision envelope, so a prediction close on average but far on some rows
/// (a sink scaled rather than dropped) stays below kExplainsScore. Hypotheses that cannot explain
/// a failure here score 0 and say why: among them every mutant whose output on the case is
/// bit-identical to the correct tiled kernel's (a window bug on a case without a window). Exact ties (two
/// bugs that give the same output on this case) keep the table order and say so in the evidence.
std::vector<Hypothesis> diagnose(const DiagnosisContext& ctx, const PreparedCase& p, std::span<const double> candidate);

/// diagnose(), then the precision fingerprint (src/judge/fingerprint.hpp) when `force`, or when the
/// candidate failed and no hypothesis explains it: the recipes it finds explaining the output join
/// the ranking by score. `fingerprint` (if not null) gets the report's "fingerprint" object when the
/// fingerprint ran and either matched or was forced; it stays null otherwise, so the reports of
/// failures a mutant explains are what they were.
std::vector<Hypothesis> diagnose_with_fingerprint(const DiagnosisContext& ctx, const PreparedCase& p,
                                                  std::span<const double> candidate, bool candidate_failed, bool force,
                                                  int threads, nlohmann::json* fingerprint);

/// build_diagnosis_context + diagnose_with_fingerprint for a failed candidate, then use_lse
/// (src/judge/backward_diagnosis.hpp) when the candidate handed back an `lse`.
std::vector<Hypothesis> diagnose_case(PreparedCase& p, std::span<const double> candidate, Layout declared, int threads,
                                      nlohmann::json* fingerprint = nullptr, std::span<const double> lse = {});

/// The conclusion every output draws from a diagnosis, by one rule: the best hypothesis scoring at
/// least kExplainsScore explains the output, except `precision` for a candidate that failed its
/// gates (a failure is never "most likely precision"); otherwise nothing built in explains it.
struct DiagnosisVerdict {
  std::string explained_by;         // the explaining hypothesis; "" when unexplained
  std::string finding;              // for a "precision:<recipe>" verdict: its evidence (what the kernel rounds)
  std::vector<Hypothesis> nearest;  // when unexplained: up to kNearestShown best with a score > 0
  bool explained() const { return !explained_by.empty(); }
  /// The explaining hypothesis's name or "unexplained" (the JSON "verdict", as SPEC §14 words it).
  std::string name() const { return explained() ? explained_by : "unexplained"; }
  /// "most likely: X", or "no built-in hypothesis explains this; nearest: X (score s), Y (score t)".
  /// A precision recipe adds "— a precision finding, not a bug: <finding>".
  /// `quote` renders a hypothesis name for the output format (a code span, bold, ...).
  std::string text(const std::function<std::string(const std::string&)>& quote = {}) const;
};

/// `candidate_failed`: the candidate failed the case (its gates or NaN/Inf), so `precision` (the
/// declared recipe) cannot be the verdict; it may still be the nearest. A "precision:<recipe>"
/// hypothesis can: the kernel rounds as another recipe does.
DiagnosisVerdict diagnosis_verdict(const std::vector<Hypothesis>& h, bool candidate_failed);

/// The same for a case of a JSON report (SPEC §8), from its "diagnosis" and "verdict": what the
/// Markdown, JUnit and HTML writers print. No hypotheses (not diagnosed) gives an empty verdict.
DiagnosisVerdict diagnosis_verdict_of_case(const nlohmann::json& report_case);

/// The hypotheses of a {"hypotheses": [{"name", "score", "evidence"}]} object, best first.
std::vector<Hypothesis> diagnosis_from_json(const nlohmann::json& diagnosis);

/// {"verdict": name or "unexplained", "hypotheses": [{"name", "score", "evidence"}]}, best first
/// (SPEC §6); the object a JSON report case holds as "diagnosis".
nlohmann::json diagnosis_to_json(const std::vector<Hypothesis>& h, bool candidate_failed);

/// Up to `top` applicable hypotheses as numbered lines, each starting with `indent`.
std::string render_diagnosis(const std::vector<Hypothesis>& h, std::size_t top, const std::string& indent = "  ");

/// The "diagnosis of <case>:" block printed under a run's table for every diagnosed case: the
/// ranking (up to `top` lines) when a hypothesis explains the output, then the verdict's text.
std::string render_report_diagnoses(const std::vector<CaseResult>& cases, std::size_t top = 3);

/// When r failed: the diagnosis of the candidate's output (out, bshd) when the output itself
/// failed, else of a backward case's tensors (diagnose_tensors), in r->diagnosis; its time is added
/// to r->seconds. `declared` as for build_diagnosis_context.
void diagnose_failure(PreparedCase& p, std::span<const double> out, const BackwardTensors& tensors, Layout declared,
                      int threads, CaseResult* r);

/// prepare_case + judge, and when `diagnose_failures`, diagnose_failure.
CaseResult run_case_diagnosed(const CaseSpec& c, const Candidate& cand, const RunOptions& opt, bool diagnose_failures,
                              Layout declared = Layout::bshd);

}  // namespace attn
