// The reference backward pass and LSE (SPEC §10). Everything in float64, straight from the formulas,
// one query row at a time: the row's visible scores s_ij, lse_i = m + log Z (sink in Z), P_ij =
// exp(s_ij - lse_i), O_i = sum_j P_ij V_j, D_i = dO_i · O_i, dP_ij = dO_i · V_j, dS_ij = P_ij (dP_ij - D_i),
// then dQ_i += scale dS_ij K_j, dK_j += scale dS_ij Q_i, dV_j += P_ij dO_i and the sink's share
// -p_sink,i D_i. It never tiles, never rounds to a narrower type, never reuses a kernel's products:
// a disagreement with the tiled backward points at the tiled backward.
//
// Like golden.cpp it takes no recipe (so no finite mask value: keys a row does not see are simply
// not in its sums) and uses fast_math.hpp's float64 exp, whose bits are the same on every machine.
// O and D_i are recomputed here from P rather than read from golden_attention: the same quantity
// within a few ulp, and the backward then depends on nothing but its formulas.
//
// Work goes in one task per (batch, KV head): the task owns dK and dV of that head and dQ of every
// query head of its group, so each output element is summed in one fixed order (heads of the group,
// then rows, ascending) whatever the thread count. The products are plain loops over a contiguous
// index (K and V are also held transposed so that the dot products over d become such loops too),
// which the compiler vectorises without reordering any sum.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/backward.hpp"
#include "kernels/fast_math.hpp"
#include "kernels/transposed_kv.hpp"
#include "src/base/parallel.hpp"

namespace attn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

using Transposed = TransposedKV<double>;

// Row i of (b, h), whose visible keys are `keys` (not empty): s[j - lo] = scale · <q_i, k_j> (sum over
// d ascending) for the visible keys; returns lse_i = m + log Z with the sink in Z.
ATTN_CLONES double row_scores(const Problem& p, const Inputs& in, const Transposed& t, std::int64_t b,
                              std::int64_t h, std::int64_t i, Problem::KeyRange keys, double* s) {
  const Shape& sh = p.shape;
  const std::int64_t D = sh.head_dim, Sk = sh.kv_tokens, lo = keys.lo, n = keys.size();
  const float* q = &in.q[bshd(b, i, h, 0, sh.tokens, sh.heads, D)];
  std::fill(s, s + n, 0.0);
  for (std::int64_t d = 0; d < D; ++d) {
    const double qd = q[d];
    const double* k = &t.kt[d * Sk + lo];
    for (std::int64_t j = 0; j < n; ++j) s[j] += qd * k[j];
  }
  const double sink = p.has_sinks ? double(in.sinks[h]) : kNegInf;
  double m = sink;
  for (std::int64_t j = 0; j < n; ++j) {
    s[j] *= p.scale;
    m = std::max(m, s[j]);
  }
  double z = p.has_sinks ? fast_exp(sink - m) : 0.0;
  for (std::int64_t j = 0; j < n; ++j) z += fast_exp(s[j] - m);
  return m + std::log(z);
}

// y[0, n) += a · x[0, n). Its own function so that y is known not to alias x: then it vectorises.
ATTN_INLINE void axpy(double* __restrict y, double a, const float* __restrict x, std::int64_t n) {
  for (std::int64_t d = 0; d < n; ++d) y[d] += a * double(x[d]);
}

// The lse of a row with no visible key (SPEC §10).
double empty_lse(const Problem& p, const Inputs& in, std::int64_t h) {
  return p.has_sinks ? double(in.sinks[h]) : kNegInf;
}

// lse: [B][H][Sq], the rows of every query head of KV head g in batch b.
void lse_task(const Problem& p, const Inputs& in, std::span<double> lse, std::int64_t b, std::int64_t g) {
  const Shape& s = p.shape;
  const Transposed t(s, in, b, g, false);
  std::vector<double> sc(s.kv_tokens);
  for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h)
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const Problem::KeyRange keys = p.visible_keys(i);
      lse[bhs(b, h, i, s)] = keys.empty() ? empty_lse(p, in, h) : row_scores(p, in, t, b, h, i, keys, sc.data());
    }
}

// dQ of the group's query heads, dK and dV of KV head g, in batch b; sink_part[bhs(b, h, i)] gets row
// i's term of dsinks[h] (0 for a row with no visible key).
ATTN_CLONES void backward_task(const Problem& p, const Inputs& in, Gradients<double>& gr, std::vector<double>& sink_part,
                               std::int64_t b, std::int64_t g) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, Sk = s.kv_tokens;
  const Transposed t(s, in, b, g, true);
  std::vector<double> sc(Sk), pr(Sk), dp(Sk), o(D), dk(Sk * D, 0.0), dv(Sk * D, 0.0);  // dk, dv: [Sk][D]
  for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h)
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const std::int64_t qi = bshd(b, i, h, 0, s.tokens, s.heads, D);
      double* dq = &gr.dq[qi];
      std::fill(dq, dq + D, 0.0);
      sink_part[bhs(b, h, i, s)] = 0.0;
      const Problem::KeyRange keys = p.visible_keys(i);
      if (keys.empty()) continue;  // no gradient flows through a row that is 0 by definition
      const std::int64_t lo = keys.lo, n = keys.size();
      const double lse = row_scores(p, in, t, b, h, i, keys, sc.data());
      const float* q = &in.q[qi];
      const float* dout = &in.dout[qi];
      for (std::int64_t j = 0; j < n; ++j) pr[j] = fast_exp(sc[j] - lse);
      // O_i and D_i = dO_i · O_i
      std::fill(o.begin(), o.end(), 0.0);
      for (std::int64_t j = 0; j < n; ++j) {
        const float* v = &in.v[bshd(b, lo + j, g, 0, Sk, s.kv_heads, D)];
        for (std::int64_t d = 0; d < D; ++d) o[d] += pr[j] * double(v[d]);
      }
      double dsum = 0.0;
      for (std::int64_t d = 0; d < D; ++d) dsum += double(dout[d]) * o[d];
      // dP_ij = dO_i · V_j, then dS_ij = P_ij (dP_ij - D_i) in place
      std::fill(dp.begin(), dp.begin() + n, 0.0);
      for (std::int64_t d = 0; d < D; ++d) {
        const double od = dout[d];
        const double* v = &t.vt[d * Sk + lo];
        for (std::int64_t j = 0; j < n; ++j) dp[j] += od * v[j];
      }
      for (std::int64_t j = 0; j < n; ++j) dp[j] = pr[j] * (dp[j] - dsum);
      for (std::int64_t j = 0; j < n; ++j) {
        const float* k = &in.k[bshd(b, lo + j, g, 0, Sk, s.kv_heads, D)];
        axpy(dq, dp[j], k, D);
        axpy(&dk[(lo + j) * D], dp[j], q, D);
        axpy(&dv[(lo + j) * D], pr[j], dout, D);
      }
      for (std::int64_t d = 0; d < D; ++d) dq[d] *= p.scale;
      if (p.has_sinks) sink_part[bhs(b, h, i, s)] = -fast_exp(double(in.sinks[h]) - lse) * dsum;
    }
  for (std::int64_t j = 0; j < Sk; ++j)
    for (std::int64_t d = 0; d < D; ++d) {
      const std::int64_t n = bshd(b, j, g, d, Sk, s.kv_heads, D);
      gr.dk[n] = p.scale * dk[j * D + d];
      gr.dv[n] = dv[j * D + d];
    }
}

}  // namespace

void golden_lse(const Problem& p, const Inputs& in, std::span<double> lse, int threads) {
  const Shape& s = p.shape;
  parallel_for(s.batch * s.kv_heads, threads, [&](std::int64_t bg) { lse_task(p, in, lse, bg / s.kv_heads, bg % s.kv_heads); });
}

Gradients<double> golden_backward(const Problem& p, const Inputs& in, int threads) {
  const Shape& s = p.shape;
  if (std::int64_t(in.dout.size()) != s.q_elements()) throw std::logic_error("backward without dO (Inputs::dout)");
  Gradients<double> gr;
  gr.dq.resize(s.q_elements());
  gr.dk.resize(s.kv_elements());
  gr.dv.resize(s.kv_elements());
  std::vector<double> sink_part(lse_elements(s));
  parallel_for(s.batch * s.kv_heads, threads,
               [&](std::int64_t bg) { backward_task(p, in, gr, sink_part, bg / s.kv_heads, bg % s.kv_heads); });
  // dsinks[h] sums over (b, i) across tasks: here, in one fixed order, after they are all done.
  if (p.has_sinks) {
    gr.dsinks.assign(s.heads, 0.0);
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t i = 0; i < s.tokens; ++i) gr.dsinks[h] += sink_part[bhs(b, h, i, s)];
  }
  return gr;
}

}  // namespace attn
