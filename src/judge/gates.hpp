// Gates and verdicts (SPEC §7): a suite's gate specs (src/suite/gate_spec.hpp) evaluated on a candidate's metrics.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/judge/metrics.hpp"
#include "src/suite/gate_spec.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

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
  // False when the case sets a tolerance of its own (not the recipe's default): then min_pass_rate
  // and min_pearson apply their bounds as written, not relaxed to what the eager reference reaches.
  bool default_tolerance = true;
  // The recipe rounds scores or an accumulator where the eager reference does not
  // (Recipe::narrow_internals): min_pass_rate and min_pearson then relax to what the correct tiled
  // kernel reaches (the candidate's own values when it is that kernel), not the eager reference.
  bool narrow_internals = false;
};

/// The unit roundoff of the recipe's P where it is coarser than the eager reference's (fp8-e4m3:
/// e4m3's 2^-4 against bf16's 2^-8), else 0: the naive reference does not make that error, so
/// k × its error cannot bound it (on one key it is all of the kernel's error). *abs_floor gets the
/// largest absolute error of rounding to that format's subnormals (half its smallest step).
double probs_rounding_unit(const Recipe& recipe, double* abs_floor);

/// Every gate but `baseline_growth`, which src/report/baseline.hpp evaluates once the run is over.
std::vector<GateResult> evaluate_gates(const std::vector<GateSpec>& gates, const GateContext& ctx);

}  // namespace attn
