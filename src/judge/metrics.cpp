#include "src/judge/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <queue>

#include "src/base/parallel.hpp"

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

namespace {

constexpr std::int64_t kChunk = 1 << 16;  // elements per partial result

// What one chunk contributes to the first pass.
struct Partial {
  StableSum abs_sum, sq_sum, ref_sq, c_sum, r_sum;
  double max_abs = -1.0, max_rel = -1.0, min_rtol = 0.0;
  std::int64_t max_abs_at = 0, max_rel_at = 0;
  bool rtol_unbounded = false;
  std::int64_t passed = 0, finite = 0, nonfinite = 0, rel_excluded = 0;
  std::int64_t nan_c = 0, inf_c = 0, nan_r = 0, inf_r = 0;
  std::int64_t unexpected = 0, first_unexpected = -1;  // candidate non-finite where the reference is finite
  std::vector<std::int64_t> bands;
};

void first_pass(std::span<const double> c, std::span<const double> r, std::int64_t e0, std::int64_t e1,
                const Tolerance& tol, Partial& out) {
  // A local accumulator: through the reference the compiler would have to store every sum after
  // each element (it may alias c and r), and neighbouring chunks' partials share cache lines.
  Partial p;
  p.bands.assign(tol.bands.size(), 0);
  for (std::int64_t e = e0; e < e1; ++e) {
    const double cv = c[e], rv = r[e];
    p.passed += within_tolerance(cv, rv, tol.atol, tol.rtol);
    if (!std::isfinite(cv) || !std::isfinite(rv)) [[unlikely]] {
      p.nan_c += std::isnan(cv);
      p.inf_c += std::isinf(cv);
      p.nan_r += std::isnan(rv);
      p.inf_r += std::isinf(rv);
      if (std::isfinite(rv)) {
        if (p.unexpected++ == 0) p.first_unexpected = e;
      }
      ++p.nonfinite;
      continue;
    }
    ++p.finite;
    const double diff = std::abs(cv - rv);
    for (std::size_t k = 0; k < tol.bands.size(); ++k) p.bands[k] += diff <= tol.bands[k];
    p.abs_sum.add(diff);
    p.sq_sum.add(diff * diff);
    p.ref_sq.add(rv * rv);
    p.c_sum.add(cv);
    p.r_sum.add(rv);
    if (diff > p.max_abs) p.max_abs = diff, p.max_abs_at = e;
    if (rv == 0.0) {
      ++p.rel_excluded;
      if (diff > 0.0) p.rtol_unbounded = true;
    } else {
      const double rel = diff / std::abs(rv);
      if (rel > p.max_rel) p.max_rel = rel, p.max_rel_at = e;
      p.min_rtol = std::max(p.min_rtol, rel);
    }
  }
  out = std::move(p);
}

// Chunk partials of fn, merged by the caller in chunk order.
template <class P, class Fn>
std::vector<P> per_chunk(std::int64_t n, int threads, Fn&& fn) {
  std::vector<P> parts(static_cast<std::size_t>((n + kChunk - 1) / kChunk));
  parallel_for(static_cast<std::int64_t>(parts.size()), threads, [&](std::int64_t k) {
    fn(k * kChunk, std::min(n, (k + 1) * kChunk), parts[k]);
  });
  return parts;
}

}  // namespace

Metrics compute_metrics(std::span<const double> c, std::span<const double> r, const Index4& dims,
                        const Tolerance& tol, int threads) {
  Metrics m;
  const auto n = static_cast<std::int64_t>(c.size());
  m.elements = n;
  const auto parts = per_chunk<Partial>(n, threads, [&](std::int64_t e0, std::int64_t e1, Partial& p) {
    first_pass(c, r, e0, e1, tol, p);
  });
  Partial all;
  all.bands.assign(tol.bands.size(), 0);
  for (const Partial& p : parts) {  // in element order: the first maximum wins ties, as in one pass
    for (auto [to, from] : {std::pair{&all.abs_sum, &p.abs_sum}, {&all.sq_sum, &p.sq_sum},
                            {&all.ref_sq, &p.ref_sq}, {&all.c_sum, &p.c_sum}, {&all.r_sum, &p.r_sum}})
      to->add(*from);
    if (p.max_abs > all.max_abs) all.max_abs = p.max_abs, all.max_abs_at = p.max_abs_at;
    if (p.max_rel > all.max_rel) all.max_rel = p.max_rel, all.max_rel_at = p.max_rel_at;
    all.min_rtol = std::max(all.min_rtol, p.min_rtol);
    all.rtol_unbounded |= p.rtol_unbounded;
    all.passed += p.passed, all.finite += p.finite, all.nonfinite += p.nonfinite;
    all.rel_excluded += p.rel_excluded;
    all.nan_c += p.nan_c, all.inf_c += p.inf_c, all.nan_r += p.nan_r, all.inf_r += p.inf_r;
    if (all.unexpected == 0) all.first_unexpected = p.first_unexpected;
    all.unexpected += p.unexpected;
    for (std::size_t k = 0; k < tol.bands.size(); ++k) all.bands[k] += p.bands[k];
  }
  m.nan_candidate = all.nan_c, m.inf_candidate = all.inf_c, m.nan_reference = all.nan_r, m.inf_reference = all.inf_r;
  m.nonfinite_excluded = all.nonfinite;
  m.unexpected_nonfinite = all.unexpected;
  if (all.unexpected) m.first_nonfinite_index = unflatten(all.first_unexpected, dims);
  m.rel_excluded = all.rel_excluded;
  if (all.max_abs >= 0.0) m.max_abs_index = unflatten(all.max_abs_at, dims);
  if (all.max_rel >= 0.0) m.max_rel_index = unflatten(all.max_rel_at, dims);
  m.pass_rate = n ? double(all.passed) / double(n) : 1.0;
  for (std::size_t k = 0; k < tol.bands.size(); ++k)
    m.bands.emplace_back(tol.bands[k], n ? double(all.bands[k]) / double(n) : 1.0);

  auto null = [&](const char* field, std::string why) { m.null_reasons.emplace_back(field, std::move(why)); };
  if (all.finite == 0) {
    for (const char* f : {"mae", "max_abs", "rmse", "nmse", "pearson", "cosine", "max_rel", "min_atol", "min_rtol"})
      null(f, "no element where both candidate and reference are finite");
    return m;
  }
  const double nf = double(all.finite);
  m.mae = all.abs_sum.value() / nf;
  m.max_abs = all.max_abs;
  m.rmse = std::sqrt(all.sq_sum.value() / nf);
  if (all.max_rel >= 0.0) m.max_rel = all.max_rel;
  else null("max_rel", "every reference element is 0");
  if (all.ref_sq.value() > 0.0) m.nmse = all.sq_sum.value() / all.ref_sq.value();
  else null("nmse", "the reference is all zeros");

  // Second pass for correlation: centred sums are accurate where the raw-moment formula cancels.
  const double c_mean = all.c_sum.value() / nf, r_mean = all.r_sum.value() / nf;
  struct Moments {
    StableSum cov, c_var, r_var, dot, c_sq;
  };
  const auto moments = per_chunk<Moments>(n, threads, [&](std::int64_t e0, std::int64_t e1, Moments& out) {
    Moments mo;  // local, as in first_pass
    for (std::int64_t e = e0; e < e1; ++e) {
      const double cv = c[e], rv = r[e];
      if (!std::isfinite(cv) || !std::isfinite(rv)) continue;
      mo.cov.add((cv - c_mean) * (rv - r_mean));
      mo.c_var.add((cv - c_mean) * (cv - c_mean));
      mo.r_var.add((rv - r_mean) * (rv - r_mean));
      mo.dot.add(cv * rv);
      mo.c_sq.add(cv * cv);
    }
    out = mo;
  });
  Moments mo;
  for (const Moments& p : moments) {
    mo.cov.add(p.cov), mo.c_var.add(p.c_var), mo.r_var.add(p.r_var), mo.dot.add(p.dot), mo.c_sq.add(p.c_sq);
  }
  if (mo.r_var.value() <= 0.0) null("pearson", "the reference has zero variance (constant output)");
  else if (mo.c_var.value() <= 0.0) null("pearson", kCandidateConstant);
  else m.pearson = mo.cov.value() / std::sqrt(mo.c_var.value() * mo.r_var.value());
  if (mo.c_sq.value() > 0.0 && all.ref_sq.value() > 0.0)
    m.cosine = mo.dot.value() / std::sqrt(mo.c_sq.value() * all.ref_sq.value());
  else null("cosine", mo.c_sq.value() > 0.0 ? "the reference norm is 0" : "the candidate norm is 0");

  if (m.nonfinite_excluded > 0) {
    null("min_atol", "a non-finite element passes no tolerance");
    null("min_rtol", "a non-finite element passes no tolerance");
  } else {
    m.min_atol = all.max_abs;
    if (all.rtol_unbounded) null("min_rtol", "an element differs where the reference is 0: no rtol covers it");
    else m.min_rtol = all.min_rtol;
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
