#include "src/suite/numeric_limits_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn {

namespace {

constexpr double kFloatMax = std::numeric_limits<float>::max();
constexpr double kFloatMinNormal = std::numeric_limits<float>::min();  // 2^-126
constexpr double kLog2e = 1.4426950408889634;
// fast_exp flushes e^x to 0 below ln(FLT_MIN) = -87.34, fast_exp2 2^x below -126 (kernels/fast_math.hpp).
constexpr double kExpFlush = 87.3365478515625, kExp2Flush = 126.0;
constexpr const char* kDrawBound =
    "|mean| + 8.66·std for normal draws (the generator's bound), |value|, |low|, |high| or magnitude otherwise";

double largest_finite(DType t) {
  return t == DType::f16 ? 65504.0 : t == DType::bf16 ? 0x1.fep127 : kFloatMax;
}

double smallest_normal(DType t) { return t == DType::f16 ? 0x1p-14 : kFloatMinNormal; }

// The largest code of a per-tensor scaled format (0 for a format that is rounded, not scaled).
double scaled_max(DType t) {
  return t == DType::e4m3 ? 448.0 : t == DType::e5m2 ? 57344.0 : t == DType::int8 ? 127.0 : 0.0;
}

// The input format the checks below must hold for: of Q, K, V and sinks, a scaled one if any (its
// scale adapts to the values), else the one with the smallest range, then the coarsest.
DType checked_input(const Recipe& r) {
  DType worst = r.q;
  for (DType t : {r.k, r.v, r.sinks}) {
    if (scaled_dtype(worst)) break;
    if (scaled_dtype(t) || largest_finite(t) < largest_finite(worst) ||
        (largest_finite(t) == largest_finite(worst) && unit_roundoff(t) > unit_roundoff(worst)))
      worst = t;
  }
  return worst;
}

// The largest |q|, |k| the kernels can see: the draw bound, plus rounding to the input dtype (half
// an ulp up), or for scaled formats the largest code times a scale of max|x| / code (float32 ops).
double max_input(const CaseSpec& c) {
  const DType t = checked_input(c.recipe);
  const double grow = c.recipe.scaled_input() ? 0x1p-20 : unit_roundoff(t);
  return max_draw(c.inputs) * (1.0 + grow);
}

void check_input_range(const CaseSpec& c, std::vector<NumericIssue>* out) {
  const DType t = scaled_dtype(checked_input(c.recipe)) ? DType::f32 : checked_input(c.recipe);
  const double limit = largest_finite(t);
  const std::string dtype(dtype_name(t));
  auto check = [&](const std::string& key, double largest, const char* how) {
    if (largest > limit)
      out->push_back({fmt::format("key '{}' gives values up to {:.4g}, past the largest {} value ({:.6g})", key,
                                  largest, dtype, limit),
                      fmt::format("{}; the kernels would see Inf and every output would be NaN", how)});
  };
  check("inputs", max_draw(c.inputs), kDrawBound);
  if (c.backward) check("grad_output", max_draw(c.grad_output), kDrawBound);
  if (c.sinks.kind == SinksSpec::Kind::random) check("sinks", max_draw(c.sinks.dist), kDrawBound);
  double largest = 0;
  for (double v : c.sinks.values) largest = std::max(largest, std::abs(v));
  check("sinks", largest, "sink logits are inputs too");
  // With exp2 the kernel multiplies the sink logit by log2 e, into float32.
  if (c.recipe.exp2) {
    double sink = largest;
    if (c.sinks.kind == SinksSpec::Kind::random) sink = max_draw(c.sinks.dist);
    if (sink <= limit && sink * kLog2e > kFloatMax)
      out->push_back({fmt::format("key 'sinks' gives logits up to {:.4g}, past float32's largest value (3.4e38) "
                                  "once multiplied by log2 e ({:.4g})",
                                  sink, sink * kLog2e),
                      "with exp2 the kernel works in log2 units: sink logits are multiplied by 1.4427"});
  }
}

void check_scores(const CaseSpec& c, std::vector<NumericIssue>* out) {
  const double m = max_input(c), D = double(c.problem.shape.head_dim), scale = c.problem.scale;
  const double dot = D * m * m;
  const std::string how =
      fmt::format("max|q| = max|k| = {:.4g} (the largest draw: |mean| + 8.66·std for a normal one), head_dim {}", m, D);
  // int8 multiplies integer codes (|code| <= 127, exact), so only its scaled score can overflow.
  if (c.recipe.q != DType::int8 && dot > kFloatMax) {
    out->push_back({fmt::format("key 'inputs' gives dot products q·k up to {:.3g}, past float32's largest value "
                                "(3.4e38)",
                                dot),
                    fmt::format("the bound is head_dim · max|q| · max|k| with {}; the kernels sum the products in "
                                "float32 before scaling: the scores would be Inf and the outputs NaN",
                                how)});
    return;
  }
  const double scores = score_bound(c);
  if (scores > kFloatMax)
    out->push_back({fmt::format("keys 'inputs' and 'scale' give scores up to {:.3g}, past float32's largest value "
                                "(3.4e38)",
                                scores),
                    fmt::format("the bound is scale ({:.4g}) · head_dim · max|q| · max|k|{} with {}; the kernels "
                                "compute scores in float32: they would be Inf and the outputs NaN",
                                scale, c.recipe.exp2 ? " · log2 e (exp2)" : "", how)});
}

void check_mask(const CaseSpec& c, std::vector<NumericIssue>* out) {
  const float mask = c.recipe.mask_value;
  if (std::isinf(mask)) return;  // -inf excludes masked keys, as the reference does
  if (!(mask < 0.0f)) {
    out->push_back({"key 'mask_value' rounds to -0 in float32, the kernels' score type: it must be negative",
                    "a finite mask_value enters the softmax as the score of every masked key; give a value far "
                    "below every score (e.g. -1e30) or \"-inf\""});
    return;
  }
  // Masked keys must get probability exactly 0, as in the reference (SPEC §2): e^(mask - m) must flush
  // to 0 for every row max m >= -bound, in the tiled kernel's float32 (log2 units with exp2) and in
  // the eager reference's dtype.
  const double natural = score_bound(c) / (c.recipe.exp2 ? kLog2e : 1.0);
  const double need = c.recipe.exp2 ? natural * kLog2e + kExp2Flush : natural + kExpFlush;
  const double eager = round_to(c.recipe.eager, mask);
  if (double(mask) >= -need || eager >= -(natural + kExpFlush))
    out->push_back({fmt::format("key 'mask_value' ({:.6g}) is not below every possible score: scores can reach "
                                "-{:.4g}, so a masked key could get a nonzero probability",
                                double(mask), natural),
                    fmt::format("the mask must be below -{:.4g} ({}, minus the {} below which exp flushes to 0); the "
                                "reference excludes masked keys, so a mask that leaks makes the correct kernel fail",
                                need, c.recipe.exp2 ? "the score bound in log2 units" : "the score bound",
                                c.recipe.exp2 ? "126" : "87.3")});
}

void check_underflow(const CaseSpec& c, std::vector<NumericIssue>* out) {
  const double typical = typical_magnitude(c.inputs);
  if (typical == 0.0) return;  // all zero: a degenerate case, but every format holds 0 exactly
  struct Format {
    DType t;
    const char* role;
  };
  const Format formats[] = {{checked_input(c.recipe), "input"}, {c.recipe.eager, "eager reference"}, {c.recipe.output, "output"}};
  for (const Format& f : formats) {
    const double qmax = scaled_max(f.t);
    if (qmax > 0.0 ? typical / qmax >= kFloatMinNormal : typical >= smallest_normal(f.t)) continue;
    if (qmax > 0.0)
      out->push_back({fmt::format("key 'inputs' draws values of magnitude about {:.3g}: the {} dtype {}'s per-tensor "
                                  "scale (max|x| / {}) would be below the smallest normal float32 ({:.3g})",
                                  typical, f.role, dtype_name(f.t), qmax, kFloatMinNormal),
                      fmt::format("a subnormal scale keeps fewer bits than the format's precision, so the recipe's "
                                  "error bounds do not hold; use inputs of magnitude at least {:.3g}",
                                  qmax * kFloatMinNormal)});
    else
      out->push_back({fmt::format("key 'inputs' draws values of magnitude about {:.3g}, below the smallest normal {} "
                                  "number ({:.3g}) of the {} dtype",
                                  typical, dtype_name(f.t), smallest_normal(f.t), f.role),
                      "such values are stored as subnormals or 0 with fewer bits than the format's precision, so the "
                      "recipe's error bounds do not hold; scale the inputs up"});
    return;  // one message says it
  }
}

}  // namespace

double max_draw(const Distribution& d) {
  // Box-Muller's u1 is at least 2^-54, so a normal draw is within sqrt(2·54·ln 2) = 8.652 standard
  // deviations of the mean.
  const double normal = std::abs(d.mean) + 8.66 * d.std;
  if (d.dist == "constant") return std::abs(d.value);
  if (d.dist == "uniform" || d.dist == "integers") return std::max(std::abs(d.low), std::abs(d.high));
  if (d.dist == "outliers") return std::max(normal, d.magnitude);
  return normal;
}

double typical_magnitude(const Distribution& d) {
  if (d.dist == "constant") return std::abs(d.value);
  if (d.dist == "uniform" || d.dist == "integers") return std::max(std::abs(d.low), std::abs(d.high));
  return std::max(std::abs(d.mean), d.std);
}

double score_bound(const CaseSpec& c) {
  const double m = max_input(c);
  return c.problem.scale * double(c.problem.shape.head_dim) * m * m * (c.recipe.exp2 ? kLog2e : 1.0);
}

std::vector<NumericIssue> check_numeric_limits(const CaseSpec& c) {
  std::vector<NumericIssue> out;
  check_input_range(c, &out);
  if (!out.empty()) return out;  // the bounds below assume finite inputs
  check_scores(c, &out);
  if (out.empty()) check_mask(c, &out);
  check_underflow(c, &out);
  return out;
}

}  // namespace attn
