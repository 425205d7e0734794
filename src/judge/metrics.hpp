// Error metrics between a candidate and a reference (SPEC §5), in float64 with compensated sums.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "src/suite/gate_spec.hpp"
#include "src/suite/problem.hpp"

namespace attn {

/// The null reason of `pearson` when only the candidate is constant (a failure, not a skip).
inline constexpr const char* kCandidateConstant = "the candidate has zero variance (constant output)";

struct Metrics {
  std::int64_t elements = 0;
  // Error statistics run over elements where both candidate and reference are finite;
  // `nonfinite_excluded` counts the others (they never pass the tolerance).
  std::int64_t nonfinite_excluded = 0;
  std::optional<double> mae, max_abs, max_rel, rmse, nmse, pearson, cosine, min_atol, min_rtol;
  Index4 max_abs_index{}, max_rel_index{};
  std::int64_t rel_excluded = 0;  // elements with r == 0, left out of max_rel
  double pass_rate = 0.0;
  std::vector<std::pair<double, double>> bands;  // (delta, fraction with |c - r| <= delta)
  std::int64_t nan_candidate = 0, inf_candidate = 0, nan_reference = 0, inf_reference = 0;
  // Candidate elements that are NaN or ±Inf where the reference is finite (each one fails the
  // case), and the first of them in bshd order: where to look first.
  std::int64_t unexpected_nonfinite = 0;
  std::optional<Index4> first_nonfinite_index;
  // Why a metric is null, keyed by its field name ("pearson": "reference has zero variance").
  std::vector<std::pair<std::string, std::string>> null_reasons;
};

/// Compares c against r, both in bshd layout with dims {B, Sq, H, D}. The sums run over fixed
/// chunks of elements merged in chunk order, so the result is the same for every thread count.
Metrics compute_metrics(std::span<const double> c, std::span<const double> r, const Index4& dims,
                        const Tolerance& tol, int threads = 1);

/// The torch.allclose rule of SPEC §5: |c - r| <= atol + rtol·|r|; NaN never passes.
inline bool within_tolerance(double c, double r, double atol, double rtol) {
  const double diff = c > r ? c - r : r - c;  // NaN compares false on both branches and below
  return diff <= atol + rtol * (r < 0 ? -r : r);
}

/// Neumaier's compensated sum: float64 sums over millions of elements that stay exact to ~1 ulp.
class StableSum {
 public:
  void add(double x) {
    const double t = sum_ + x;
    // Both corrections, then a select: a branch on |sum| >= |x| mispredicts on sums near 0.
    const double big_sum = (sum_ - t) + x, big_x = (x - t) + sum_;
    comp_ += std::abs(sum_) >= std::abs(x) ? big_sum : big_x;
    sum_ = t;
  }
  double value() const { return sum_ + comp_; }
  void add(const StableSum& o) { add(o.sum_), add(o.comp_); }

 private:
  double sum_ = 0.0, comp_ = 0.0;
};

struct WorstElement {
  Index4 index{};
  double candidate = 0.0, reference = 0.0, abs_err = 0.0;
};

/// The n elements with the largest |c - r| (non-finite differences first), largest first.
std::vector<WorstElement> worst_elements(std::span<const double> c, std::span<const double> r,
                                         const Index4& dims, std::size_t n);

/// Sum of (a - b)² and max |a - b| over two outputs of one shape, matching non-finite values (the
/// same NaN or infinity) counting as equal; both infinite where a non-finite value differs. How far
/// a prediction is from a candidate (diagnosis, the precision fingerprint).
template <class A, class B>
std::pair<double, double> diff_sq_and_max(std::span<const A> a, std::span<const B> b) {
  StableSum sq;
  double worst = 0;
  for (std::size_t n = 0; n < a.size(); ++n) {
    const double x = a[n], y = b[n];
    if (std::isfinite(x) && std::isfinite(y)) {
      sq.add((x - y) * (x - y));
      worst = std::max(worst, std::abs(x - y));
    } else if (!((std::isnan(x) && std::isnan(y)) || x == y)) {
      return {INFINITY, INFINITY};
    }
  }
  return {sq.value(), worst};
}

}  // namespace attn
