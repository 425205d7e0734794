// What a suite says about gates (SPEC §4, §7): the gate kinds, a case's configured gates and
// tolerance, and each recipe's defaults. Evaluating them on metrics is src/judge/gates.hpp's job.
#pragma once

#include <string>
#include <vector>

#include "src/suite/recipe.hpp"

namespace attn {

/// The tolerance of pass_rate and min_pass_rate: |c - r| <= atol + rtol·|r| (SPEC §5), and the
/// absolute error bands reported next to it.
struct Tolerance {
  double atol = 1e-5;
  double rtol = 1.3e-6;
  std::vector<double> bands = {1e-3, 1e-2, 1e-1};
};

/// One configured gate. Plain gates use `bound`; the relative gates (`max_abs_vs_naive`,
/// `max_abs_vs_expected`) use `k` and `eps` (bound = k·yardstick + eps; eps < 0 means "derive the
/// floor": one ulp of the output dtype, 2·unit_roundoff(output)·max|golden|, plus what the
/// recipe's coarser rounding of P can add, GateContext::probs_rounding).
/// The yardstick of max_abs_vs_naive is the eager reference's error, that of max_abs_vs_expected
/// the larger of the tiled kernel's and the eager reference's (both are correct implementations).
/// `min_pass_rate` and `min_pearson` use `bound`, and `k` too: the bound applied is
/// min(bound, 1 - k·(1 - the eager reference's own value)), never stricter than what the eager
/// reference reaches on the case (k = 0 switches that off, and so does a tolerance the case sets
/// itself: GateContext::default_tolerance). docs/calibration.md has the evidence.
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

}  // namespace attn
