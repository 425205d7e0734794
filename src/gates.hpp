// Gates and verdicts (SPEC §7): named bounds on a candidate's metrics, with per-recipe defaults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/metrics.hpp"
#include "src/recipe.hpp"

namespace attn {

/// One configured gate. Plain gates use `bound`; the relative gates (`max_abs_vs_naive`,
/// `max_abs_vs_expected`) use `k` and `eps` (bound = k·yardstick + eps; eps < 0 means "derive the
/// floor": one ulp of the output dtype, 2·unit_roundoff(output)·max|golden|, plus what the
/// recipe's coarser rounding of P can add, GateContext::probs_rounding).
/// The yardstick of max_abs_vs_naive is the eager reference's error, that of max_abs_vs_expected
/// the larger of the tiled kernel's and the eager reference's (both are correct implementations).
/// `min_pass_rate` and `min_pearson` use `bound`, and `k` too: the bound applied is
/// min(bound, 1 - k·(1 - the eager reference's own value)), never stricter than what the eager
/// reference reaches on the case (k = 0 switches that off). docs/calibration.md has the evidence.
struct GateSpec {
  std::string name;
  double bound = 0.0;
  double k = 2.0;
  double eps = -1.0;
};

/// Description of a gate kind, the one table that validation, help and evaluation share.
struct GateKind {
  std::string name;
  std::string description;
  bool relative;  // configured by {k, eps} instead of a bound
  bool lower;     // a lower bound (value must be >= bound) instead of an upper one
};
const std::vector<GateKind>& gate_kinds();
const GateKind* find_gate_kind(const std::string& name);

/// `baseline_growth` unless a case sets another: 10% more max_abs or mae than the baseline's fails.
inline constexpr double kDefaultBaselineGrowth = 0.1;

/// The gates a recipe applies when a case does not override them.
std::vector<GateSpec> default_gates(const Recipe& recipe);

/// The tolerance a recipe uses when the case sets none (for pass_rate and min_pass_rate).
Tolerance default_tolerance(const Recipe& recipe);

struct GateResult {
  std::string name;
  double bound = 0.0;
  std::optional<double> value;  // null when the metric is undefined for this case
  bool pass = true;
  std::string note;  // how the bound was formed, or why the gate was skipped
};

/// Everything a gate may look at.
struct GateContext {
  const Metrics& vs_golden;              // candidate vs golden
  const Metrics& naive_vs_golden;        // the eager same-precision reference's own error
  const Metrics* expected_vs_golden;     // the correct tiled kernel's error; null when the candidate is it
  double golden_max_abs_value;           // max |golden|, for the derived floor
  DType output;
  // What rounding P more coarsely than the eager reference can add to the output error (0 when the
  // recipe does not: see probs_rounding_unit); part of the relative gates' derived floor.
  double probs_rounding = 0.0;
};

/// The unit roundoff of the recipe's P where it is coarser than the eager reference's (fp8-e4m3:
/// e4m3's 2^-4 against bf16's 2^-8), else 0: the naive reference does not make that error, so
/// k × its error cannot bound it (on one key it is all of the kernel's error). *abs_floor gets the
/// largest absolute error of rounding to that format's subnormals (half its smallest step).
double probs_rounding_unit(const Recipe& recipe, double* abs_floor);

/// Every gate but `baseline_growth`, which src/baseline.hpp evaluates once the run is over.
std::vector<GateResult> evaluate_gates(const std::vector<GateSpec>& gates, const GateContext& ctx);

}  // namespace attn
