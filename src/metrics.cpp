#include "src/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <queue>

namespace attn {

namespace {

Index4 unflatten(std::int64_t n, const Index4& dims) {
  Index4 idx{};
  for (int a = 3; a >= 0; --a) {
    idx[a] = n % dims[a];
    n /= dims[a];
  }
  return idx;
}

}  // namespace

Metrics compute_metrics(std::span<const double> c, std::span<const double> r, const Index4& dims,
                        const Tolerance& tol) {
  Metrics m;
  const auto n = static_cast<std::int64_t>(c.size());
  m.elements = n;
  StableSum abs_sum, sq_sum, ref_sq, c_sum, r_sum;
  double max_abs = -1.0, max_rel = -1.0, min_rtol = 0.0;
  bool rtol_unbounded = false;
  std::int64_t passed = 0, finite = 0;
  std::vector<std::int64_t> band_count(tol.bands.size(), 0);

  for (std::int64_t e = 0; e < n; ++e) {
    const double cv = c[e], rv = r[e];
    m.nan_candidate += std::isnan(cv);
    m.inf_candidate += std::isinf(cv);
    m.nan_reference += std::isnan(rv);
    m.inf_reference += std::isinf(rv);
    passed += within_tolerance(cv, rv, tol.atol, tol.rtol);
    if (!std::isfinite(cv) || !std::isfinite(rv)) {
      ++m.nonfinite_excluded;
      continue;
    }
    ++finite;
    const double diff = std::abs(cv - rv);
    for (std::size_t k = 0; k < tol.bands.size(); ++k) band_count[k] += diff <= tol.bands[k];
    abs_sum.add(diff);
    sq_sum.add(diff * diff);
    ref_sq.add(rv * rv);
    c_sum.add(cv);
    r_sum.add(rv);
    if (diff > max_abs) max_abs = diff, m.max_abs_index = unflatten(e, dims);
    if (rv == 0.0) {
      ++m.rel_excluded;
      if (diff > 0.0) rtol_unbounded = true;
    } else {
      const double rel = diff / std::abs(rv);
      if (rel > max_rel) max_rel = rel, m.max_rel_index = unflatten(e, dims);
      min_rtol = std::max(min_rtol, rel);
    }
  }
  m.pass_rate = n ? double(passed) / double(n) : 1.0;
  for (std::size_t k = 0; k < tol.bands.size(); ++k)
    m.bands.emplace_back(tol.bands[k], n ? double(band_count[k]) / double(n) : 1.0);

  auto null = [&](const char* field, std::string why) { m.null_reasons.emplace_back(field, std::move(why)); };
  if (finite == 0) {
    for (const char* f : {"mae", "max_abs", "rmse", "nmse", "pearson", "cosine", "max_rel", "min_atol", "min_rtol"})
      null(f, "no element where both candidate and reference are finite");
    return m;
  }
  const double nf = double(finite);
  m.mae = abs_sum.value() / nf;
  m.max_abs = max_abs;
  m.rmse = std::sqrt(sq_sum.value() / nf);
  if (max_rel >= 0.0) m.max_rel = max_rel;
  else null("max_rel", "every reference element is 0");
  if (ref_sq.value() > 0.0) m.nmse = sq_sum.value() / ref_sq.value();
  else null("nmse", "the reference is all zeros");

  // Second pass for correlation: centred sums are accurate where the raw-moment formula cancels.
  const double c_mean = c_sum.value() / nf, r_mean = r_sum.value() / nf;
  StableSum cov, c_var, r_var, dot, c_sq;
  for (std::int64_t e = 0; e < n; ++e) {
    const double cv = c[e], rv = r[e];
    if (!std::isfinite(cv) || !std::isfinite(rv)) continue;
    cov.add((cv - c_mean) * (rv - r_mean));
    c_var.add((cv - c_mean) * (cv - c_mean));
    r_var.add((rv - r_mean) * (rv - r_mean));
    dot.add(cv * rv);
    c_sq.add(cv * cv);
  }
  if (r_var.value() <= 0.0) null("pearson", "the reference has zero variance (constant output)");
  else if (c_var.value() <= 0.0) null("pearson", kCandidateConstant);
  else m.pearson = cov.value() / std::sqrt(c_var.value() * r_var.value());
  if (c_sq.value() > 0.0 && ref_sq.value() > 0.0)
    m.cosine = dot.value() / std::sqrt(c_sq.value() * ref_sq.value());
  else null("cosine", c_sq.value() > 0.0 ? "the reference norm is 0" : "the candidate norm is 0");

  if (m.nonfinite_excluded > 0) {
    null("min_atol", "a non-finite element passes no tolerance");
    null("min_rtol", "a non-finite element passes no tolerance");
  } else {
    m.min_atol = max_abs;
    if (rtol_unbounded) null("min_rtol", "an element differs where the reference is 0: no rtol covers it");
    else m.min_rtol = min_rtol;
  }
  return m;
}

std::vector<WorstElement> worst_elements(std::span<const double> c, std::span<const double> r,
                                         const Index4& dims, std::size_t n) {
  // Min-heap of the n largest errors; a NaN difference ranks above every finite one.
  auto key = [](double d) { return std::isnan(d) ? HUGE_VAL : d; };
  auto greater = [&](const WorstElement& a, const WorstElement& b) { return key(a.abs_err) > key(b.abs_err); };
  std::priority_queue<WorstElement, std::vector<WorstElement>, decltype(greater)> heap(greater);
  for (std::size_t e = 0; e < c.size(); ++e) {
    const double d = std::abs(c[e] - r[e]);
    if (heap.size() < n) heap.push({unflatten(std::int64_t(e), dims), c[e], r[e], d});
    else if (n && key(d) > key(heap.top().abs_err)) {
      heap.pop();
      heap.push({unflatten(std::int64_t(e), dims), c[e], r[e], d});
    }
  }
  std::vector<WorstElement> out;
  while (!heap.empty()) out.push_back(heap.top()), heap.pop();
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace attn
