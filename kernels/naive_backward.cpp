// The naive backward and LSE: PyTorch eager autograd through the ops of kernels/naive.cpp's forward
// (the gpt-oss `sdpa`) on tensors of dtype t = recipe.eager, each op accumulating in fp32 and
// rounding its result to t. The forward, recomputed per row exactly as naive.cpp does it (same fma
// order for QK, same lane order for the softmax sum, same fast_exp), so W is naive_attention's W:
//   X = round(round(Q·Kᵀ) · scale) (+ mask),  cat sink,  W = round(softmax(X)),  O = W[:, :-1] · V.
// Autograd of that chain, the rounding modelled at each op:
//   dO      the upstream gradient as a tensor of dtype t: round(dout)
//   dW_j    einsum backward (bmm): round(sum_d dO_d V_jd) (fp32, d ascending); the sink column of W
//           was sliced off, so its dW is 0
//   dS      softmax backward (_softmax_backward_data, last dim: ATen's
//           _vec_host_softmax_backward_lastdim): its ops run in fp32 but it holds the row's sum in
//           the tensor dtype, so Dsum = round(sum_j W_j dW_j) (fp32, j ascending), then
//           dS_j = round(W_j (dW_j - Dsum)), the sink column included (dS_sink = round(-W_sink Dsum))
//   dX      `QK *= scale` backward: round(dS · scale); `QK += mask` passes it through, so with a
//           finite mask value the masked columns' gradient reaches Q and K as in PyTorch (their W is
//           0 or nearly so); with -inf it is exactly 0 and they are left out
//   dQ_i    round(sum_j dX_ij K_j) (fp32, j ascending)
//   dK, dV  per query head: round(sum_i dX_ij Q_i), round(sum_i W_ij dO_i) (fp32, i ascending), the
//           einsum's gradient of the expanded K and V; then the expand's backward sums the q_mult heads
//           of the group in fp32 (heads ascending) and rounds once more
//   dsinks  the sink column's gradient, expanded over the rows: round(sum over (b, i) of dS_sink)
//           (fp32, b then i ascending)
// Gradients stay in t (the recipe's output dtype applies to O only). A row with no visible key is 0
// in the forward (where PyTorch would give NaN) and contributes no gradient.
// This is PyTorch 2.x's CPU behaviour; ATen's sums run in other (vectorised, blocked) orders, which
// moves a rounded result only on a near tie: tests/data/torch_backward_bf16.py's case comes out bit
// for bit. PyTorch 1.13 differs in two places modelled neither here nor in naive.cpp: it rounds the
// Python scale to bf16 before `QK *= scale`, and its small-matrix bmm accumulates in bf16.
//
// The LSE: eager sdpa computes none (PyTorch users take torch.logsumexp of the scores, which for bf16
// would also round its result to bf16). Modelled here: lse_i = m + log Z of the rounded scores with
// the sink in Z, in fp32 and not rounded to t, since every LSE a kernel saves is fp32. A row with no
// visible key has the sink rounded to t, or -inf.
//
// Work goes in one task per (batch, KV head), which owns dK, dV of that head and dQ of its group's
// query heads: every sum runs in the order written above for any thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/backward.hpp"
#include "kernels/blocks.hpp"
#include "kernels/fast_math.hpp"
#include "kernels/transposed_kv.hpp"
#include "src/base/parallel.hpp"

namespace attn {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

using Transposed = TransposedKV<float>;

// The forward of one row, as naive.cpp computes it.
struct RowForward {
  std::int64_t first = 0, last = 0;  // the columns in the softmax: the visible keys, or every key with a finite mask
  float m = 0, z = 0;                // row max (sink included) and normaliser (sink term included)
  float w_sink = 0;                  // the sink column of W (0 without sinks)
};

// Row i of (b, h), whose visible keys are `keys` (not empty): w[j - first] = W_ij for j in
// [first, last). Scores as qk_block sums them (fma, d ascending, from 0), the softmax sum in
// row_sum's lanes (key j in lane j mod 16: naive's key blocks start at multiples of 32).
ATTN_CLONES RowForward row_forward(const Problem& p, const Inputs& in, const Recipe& r, const Transposed& t,
                                   std::int64_t b, std::int64_t h, std::int64_t i, Problem::KeyRange keys, float* w) {
  const Shape& s = p.shape;
  const DType ty = r.eager;
  const std::int64_t D = s.head_dim, Sk = s.kv_tokens;
  const float scale = static_cast<float>(p.scale);
  const float mask = round_to(ty, r.mask_value);
  const bool finite_mask = std::isfinite(mask);
  const float sink = p.has_sinks ? round_to(ty, in.sinks[h]) : kNegInf;
  RowForward f;
  f.first = finite_mask ? 0 : keys.lo;
  f.last = finite_mask ? Sk : keys.hi;
  const std::int64_t n = f.last - f.first;
  const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
  std::fill(w, w + n, 0.0f);
  for (std::int64_t d = 0; d < D; ++d) {
    const float qd = q[d];
    const float* k = &t.kt[d * Sk + f.first];
    for (std::int64_t j = 0; j < n; ++j) w[j] = std::fma(qd, k[j], w[j]);
  }
  round_span(ty, w, n);
  for (std::int64_t j = 0; j < n; ++j) w[j] *= scale;
  round_span(ty, w, n);
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t key = f.first + j;
    if (key < keys.lo || key >= keys.hi) w[j] = mask;
  }
  f.m = sink;
  for (std::int64_t j = 0; j < n; ++j) f.m = f.m < w[j] ? w[j] : f.m;
  float lane[kLanes] = {};
  for (std::int64_t j = 0; j < n; ++j) {
    w[j] = fast_exp(w[j] - f.m);
    lane[(f.first + j) % kLanes] += w[j];
  }
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
  const float e_sink = p.has_sinks ? fast_exp(sink - f.m) : 0.0f;
  f.z = e_sink + lane[0];
  for (std::int64_t j = 0; j < n; ++j) w[j] /= f.z;
  round_span(ty, w, n);
  f.w_sink = p.has_sinks ? round_to(ty, e_sink / f.z) : 0.0f;
  return f;
}

// y[0, n) = fma(a, x[0, n), y[0, n)). Its own function so that y is known not to alias x: then it
// vectorises.
ATTN_INLINE void axpy(float* __restrict y, float a, const float* __restrict x, std::int64_t n) {
  for (std::int64_t d = 0; d < n; ++d) y[d] = std::fma(a, x[d], y[d]);
}

float empty_lse(const Problem& p, const Inputs& in, const Recipe& r, std::int64_t h) {
  return p.has_sinks ? round_to(r.eager, in.sinks[h]) : kNegInf;
}

// lse: [B][H][Sq], the rows of every query head of KV head g in batch b.
void lse_task(const Problem& p, const Inputs& in, const Recipe& r, std::span<float> lse, std::int64_t b, std::int64_t g) {
  const Shape& s = p.shape;
  const Transposed t(s, in, b, g, false);
  std::vector<float> w(s.kv_tokens);
  for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h)
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const Problem::KeyRange keys = p.visible_keys(i);
      if (keys.empty()) {
        lse[bhs(b, h, i, s)] = empty_lse(p, in, r, h);
        continue;
      }
      const RowForward f = row_forward(p, in, r, t, b, h, i, keys, w.data());
      lse[bhs(b, h, i, s)] = f.m + std::log(f.z);
    }
}

// dQ of the group's query heads, dK and dV of KV head g, in batch b; sink_part[bhs(b, h, i)] gets
// row i's dS_sink (0 for a row with no visible key).
ATTN_CLONES void backward_task(const Problem& p, const Inputs& in, const Recipe& r, Gradients<float>& gr,
                               std::vector<float>& sink_part, std::int64_t b, std::int64_t g) {
  const Shape& s = p.shape;
  const DType ty = r.eager;
  const std::int64_t D = s.head_dim, Sk = s.kv_tokens;
  const float scale = static_cast<float>(p.scale);
  const Transposed t(s, in, b, g, true);
  std::vector<float> w(Sk), dw(Sk), dout(D), dq(D);
  std::vector<float> dk_head(Sk * D), dv_head(Sk * D), dk(Sk * D, 0.0f), dv(Sk * D, 0.0f);  // [Sk][D]
  for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h) {
    std::fill(dk_head.begin(), dk_head.end(), 0.0f);
    std::fill(dv_head.begin(), dv_head.end(), 0.0f);
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const std::int64_t qi = bshd(b, i, h, 0, s.tokens, s.heads, D);
      sink_part[bhs(b, h, i, s)] = 0.0f;
      const Problem::KeyRange keys = p.visible_keys(i);
      if (keys.empty()) {
        std::fill(&gr.dq[qi], &gr.dq[qi] + D, 0.0f);
        continue;
      }
      const RowForward f = row_forward(p, in, r, t, b, h, i, keys, w.data());
      const std::int64_t lo = f.first, n = f.last - f.first;
      const float* q = &in.q[qi];
      for (std::int64_t d = 0; d < D; ++d) dout[d] = round_to(ty, in.dout[qi + d]);
      // dW_j = dO_i · V_j
      std::fill(dw.begin(), dw.begin() + n, 0.0f);
      for (std::int64_t d = 0; d < D; ++d) {
        const float od = dout[d];
        const float* v = &t.vt[d * Sk + lo];
        for (std::int64_t j = 0; j < n; ++j) dw[j] = std::fma(od, v[j], dw[j]);
      }
      round_span(ty, dw.data(), n);
      // softmax backward, then the scale's backward: dw becomes dX
      float dsum = 0.0f;
      for (std::int64_t j = 0; j < n; ++j) dsum += w[j] * dw[j];
      dsum = round_to(ty, dsum);  // ATen keeps this sum as a scalar_t
      for (std::int64_t j = 0; j < n; ++j) dw[j] = w[j] * (dw[j] - dsum);
      round_span(ty, dw.data(), n);
      for (std::int64_t j = 0; j < n; ++j) dw[j] *= scale;
      round_span(ty, dw.data(), n);
      if (p.has_sinks) sink_part[bhs(b, h, i, s)] = round_to(ty, f.w_sink * (0.0f - dsum));
      std::fill(dq.begin(), dq.end(), 0.0f);
      for (std::int64_t j = 0; j < n; ++j) {
        const float* k = &in.k[bshd(b, lo + j, g, 0, Sk, s.kv_heads, D)];
        axpy(dq.data(), dw[j], k, D);
        axpy(&dk_head[(lo + j) * D], dw[j], q, D);
        axpy(&dv_head[(lo + j) * D], w[j], dout.data(), D);
      }
      round_span(ty, dq.data(), D);
      std::copy(dq.begin(), dq.end(), &gr.dq[qi]);
    }
    round_span(ty, dk_head.data(), Sk * D);
    round_span(ty, dv_head.data(), Sk * D);
    for (std::int64_t n = 0; n < Sk * D; ++n) {
      dk[n] += dk_head[n];
      dv[n] += dv_head[n];
    }
  }
  round_span(ty, dk.data(), Sk * D);
  round_span(ty, dv.data(), Sk * D);
  for (std::int64_t j = 0; j < Sk; ++j)
    for (std::int64_t d = 0; d < D; ++d) {
      const std::int64_t n = bshd(b, j, g, d, Sk, s.kv_heads, D);
      gr.dk[n] = dk[j * D + d];
      gr.dv[n] = dv[j * D + d];
    }
}

}  // namespace

void naive_lse(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> lse, int threads) {
  const Shape& s = p.shape;
  parallel_for(s.batch * s.kv_heads, threads,
               [&](std::int64_t bg) { lse_task(p, in, recipe, lse, bg / s.kv_heads, bg % s.kv_heads); });
}

Gradients<float> naive_backward(const Problem& p, const Inputs& in, const Recipe& recipe, int threads) {
  const Shape& s = p.shape;
  if (std::int64_t(in.dout.size()) != s.q_elements()) throw std::logic_error("backward without dO (Inputs::dout)");
  Gradients<float> gr;
  gr.dq.resize(s.q_elements());
  gr.dk.resize(s.kv_elements());
  gr.dv.resize(s.kv_elements());
  std::vector<float> sink_part(lse_elements(s));
  parallel_for(s.batch * s.kv_heads, threads, [&](std::int64_t bg) {
    backward_task(p, in, recipe, gr, sink_part, bg / s.kv_heads, bg % s.kv_heads);
  });
  if (p.has_sinks) {
    gr.dsinks.assign(s.heads, 0.0f);
    for (std::int64_t h = 0; h < s.heads; ++h) {
      float acc = 0.0f;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t i = 0; i < s.tokens; ++i) acc += sink_part[bhs(b, h, i, s)];
      gr.dsinks[h] = round_to(recipe.eager, acc);
    }
  }
  return gr;
}

}  // namespace attn
