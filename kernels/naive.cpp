// The naive computation models the gpt-oss `sdpa` run eagerly on tensors of dtype t = the recipe's
// eager dtype (its input dtype where PyTorch has eager kernels for it; see recipe.hpp):
//   QK = einsum(Q, K) -> round to t;  QK *= scale -> round;  QK += mask;  cat sinks;
//   W = softmax(QK) (computed in fp32, result rounded);  O = einsum(W, V) (fp32 accumulation, rounded)
// then O is rounded to the recipe's output dtype. Each op accumulates in fp32 internally, as
// PyTorch's CPU kernels do for bf16 and fp16, and rounds its result to the tensor dtype. A finite
// mask_value enters the softmax as a score, exactly as `QK += mask` does; a row with no visible key
// is 0 (SPEC §2) where PyTorch would give NaN. The fp32 sums run in the orders of kernels/blocks.hpp,
// exp is kernels/fast_math.hpp's (PyTorch's own vectorised exp is not the C library's either).
// Rows go in blocks of kRows, one block of score rows per thread at a time: memory stays bounded.
// It rounds to the eager dtype and nowhere else, on purpose: a recipe's kernel-only points (scores,
// acc_pv, acc_rowsum narrower than fp32, probs other than the eager dtype) are not modelled, since
// PyTorch's eager ops keep no such accumulator. Its error is then no yardstick for such a kernel,
// and default_gates (src/suite/gate_spec.cpp) leaves max_abs_vs_naive out for those recipes.
//
// The backward and LSE (naive_forward_backward, SPEC §10): PyTorch eager autograd through the ops
// above (the gpt-oss `sdpa`) on tensors of dtype t = recipe.eager, each op accumulating in fp32 and
// rounding its result to t, in the same pass as the forward, so W is naive_attention's W:
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
// for bit. PyTorch 1.13 differs in two places modelled nowhere in this file: it rounds the
// Python scale to bf16 before `QK *= scale`, and its small-matrix bmm accumulates in bf16.
//
// The LSE: eager sdpa computes none (PyTorch users take torch.logsumexp of the scores, which for bf16
// would also round its result to bf16). Modelled here: lse_i = m + log Z of the rounded scores with
// the sink in Z, in fp32 and not rounded to t, since every LSE a kernel saves is fp32. A row with no
// visible key has the sink rounded to t, or -inf.
//
// Backward tasks are per (batch, KV head), which owns dK, dV of that head and dQ of its group's
// query heads: every sum runs in the order written above for any thread count.
#include "kernels/naive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/backward.hpp"
#include "kernels/blocks.hpp"
#include "kernels/tiled.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"

namespace attn {

namespace {

constexpr std::int64_t kChunk = 64;  // query rows per task
constexpr int kPanel = 4 * kRows;    // query rows per panel of the backward
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;

// The backward's share of a task (naive_forward_backward): once a block of rows has its W, the
// block's autograd in recipe.eager, as the file comment of kernels/backward.hpp's naive lists it.
struct BackwardPart {
  const Packed& vk;        // V in key blocks (dW = dO·Vᵀ), K as rows (dQ = dX·K)
  std::span<float> dq;     // [B][Sq][H][D]
  float* dk_head;          // the current head's dK and dV, [key][dpad], before the expand's sum
  float* dv_head;
  float* sink_part;        // [B][H][Sq]: row i's dS_sink
};

// Rows [i0, i1) of (batch b, head h); lse (when not empty) gets their LSE, bw (when given) their
// share of the gradients.
ATTN_CLONES void naive_rows(const Problem& p, const Inputs& in, const Recipe& recipe, const Packed& kv,
                            std::span<float> out, std::span<float> lse, const BackwardPart* bw, std::int64_t b,
                            std::int64_t h, std::int64_t i0, std::int64_t i1) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, dpad = kv.dpad;
  const std::int64_t bg = b * s.kv_heads + h / s.q_mult();
  const DType t = recipe.eager;
  const float scale = static_cast<float>(p.scale);
  const float mask = round_to(t, recipe.mask_value);
  const bool finite_mask = std::isfinite(mask);
  const float sink = p.has_sinks ? round_to(t, in.sinks[h]) : -std::numeric_limits<float>::infinity();
  // Rows go in panels of P: one block of kRows for the forward alone; kPanel for the backward, so
  // that each pass over the head's dK and dV accumulators serves kPanel rows. The products run
  // kRows rows at a time over the panel's key span (a row's keys outside its own run add 0).
  const int P = bw ? kPanel : kRows;
  thread_local std::vector<float> w, acc, qpad, dorows, dw;
  acc.resize(kPanel * dpad);
  if (bw) qpad.assign(kPanel * dpad, 0.0f), dorows.assign(kPanel * dpad, 0.0f);
  const float* qrows[kPanel];
  for (std::int64_t r0 = i0; r0 < i1; r0 += P) {
    const std::int64_t nrows = std::min<std::int64_t>(P, i1 - r0);
    Problem::KeyRange keys[kPanel];
    std::int64_t first[kPanel], last[kPanel];
    Span span;
    for (int r = 0; r < P; ++r) {
      const std::int64_t i = std::min(r0 + r, i1 - 1);
      keys[r] = r < nrows ? p.visible_keys(i) : Problem::KeyRange{0, 0};
      // With a -inf mask the masked scores contribute exp(-inf) = 0 exactly: only the visible run is
      // computed. A finite mask puts every key in the row.
      first[r] = keys[r].empty() ? 0 : finite_mask ? 0 : keys[r].lo;
      last[r] = keys[r].empty() ? 0 : finite_mask ? s.kv_tokens : keys[r].hi;
      span.add(first[r], last[r]);
      const std::int64_t qi = bshd(b, i, h, 0, s.tokens, s.heads, D);
      qrows[r] = &in.q[qi];
      if (bw && r < nrows)  // dO as a tensor of dtype t; Q padded to dpad for dK's rows
        for (std::int64_t d = 0; d < D; ++d) qpad[r * dpad + d] = in.q[qi + d], dorows[r * dpad + d] = round_to(t, in.dout[qi + d]);
      if (bw && r >= nrows) std::fill_n(&dorows[r * dpad], dpad, 0.0f);
    }
    const Span g = span.aligned(kKeyBlock);
    const std::int64_t n = g.hi - g.lo;
    w.resize(P * n);
    poison(w);  // scratch, written before it is read
    for (int r = 0; r < P; r += kRows)  // with the backward Q is in qpad, rows dpad apart (see blocks.hpp)
      if (bw) qk_block_rows<float, kRows, kKeyBlock>(&qpad[r * dpad], dpad, kv.key_block(bg, 0), D, g.lo, g.hi, &w[r * n], n);
      else qk_block<float, kRows, kKeyBlock>(qrows + r, kv.key_block(bg, 0), D, g.lo, g.hi, &w[r * n], n);
    float m[kPanel], z[kPanel];
    for (int r = 0; r < P; ++r) {
      float* x = w.data() + r * n;  // not &w[r * n]: w is empty when no row sees a key
      if (keys[r].empty()) {  // a row with no visible key (or a padding row) is 0
        std::fill(x, x + n, 0.0f);
        m[r] = sink, z[r] = 1.0f;
        continue;
      }
      round_span(t, x, n);
      for (std::int64_t j = 0; j < n; ++j) x[j] *= scale;
      round_span(t, x, n);
      const std::int64_t a = keys[r].lo - g.lo, e = keys[r].hi - g.lo, f = first[r] - g.lo, l = last[r] - g.lo;
      for (std::int64_t j = 0; j < n; ++j)
        x[j] = j >= a && j < e ? x[j] : j >= f && j < l ? mask : -std::numeric_limits<float>::infinity();
      m[r] = std::max(sink, row_max(x, n));
      for (std::int64_t j = 0; j < n; ++j) x[j] = fast_exp(x[j] - m[r]);
      z[r] = (p.has_sinks ? fast_exp(sink - m[r]) : 0.0f) + row_sum(x, n);
      for (std::int64_t j = 0; j < n; ++j) x[j] /= z[r];
      round_span(t, x, n);
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int r = 0; r < P && n > 0; r += kRows)
      pv_block<float, kRows, kDimBlock>(&w[r * n], n, kv.value_row(bg, 0), dpad, g.lo, g.hi, &acc[r * dpad]);
    for (int r = 0; r < nrows; ++r) {
      float* o = &out[bshd(b, r0 + r, h, 0, s.tokens, s.heads, D)];
      std::copy(&acc[r * dpad], &acc[r * dpad] + D, o);
      round_span(t, o, D);
      // The LSE (eager sdpa has none; see kernels/backward.hpp): m + log Z of the rounded scores,
      // in fp32; a row with no visible key has the sink in t, or -inf.
      if (!lse.empty()) lse[bhs(b, h, r0 + r, s)] = keys[r].empty() ? sink : m[r] + std::log(z[r]);
    }
    if (!bw) continue;

    // Autograd of the block (each op in fp32, its result rounded to t): dW = dO·Vᵀ (d ascending);
    // Dsum_i = sum_j W_ij dW_ij (j ascending), held in t; dS = W (dW - Dsum); dX = dS · scale;
    // dQ_i = sum_j dX_ij K_j; dK_j, dV_j of this head gather dX_ij Q_i and W_ij dO_i over the rows
    // ascending; dS_sink,i = W_sink,i (0 - Dsum_i). Keys outside a row's run have W = 0, which adds
    // nothing to any sum.
    dw.resize(P * n);
    for (int r = 0; r < P && n > 0; r += kRows)
      qk_block_rows<float, kRows, kKeyBlock>(&dorows[r * dpad], dpad, bw->vk.key_block(bg, 0), D, g.lo, g.hi, &dw[r * n], n);
    for (int r = 0; r < P; ++r) {
      float* x = dw.data() + r * n;
      const float* wr = w.data() + r * n;
      if (r < nrows) bw->sink_part[bhs(b, h, r0 + r, s)] = 0.0f;
      if (r >= nrows || keys[r].empty()) {  // no gradient flows through a row that is 0 by definition
        std::fill(x, x + n, 0.0f);
        continue;
      }
      round_span(t, x, n);
      float dsum = 0.0f;
      for (std::int64_t j = 0; j < n; ++j) dsum += wr[j] * x[j];
      dsum = round_to(t, dsum);  // ATen keeps this sum as a scalar_t
      for (std::int64_t j = 0; j < n; ++j) x[j] = wr[j] * (x[j] - dsum);
      round_span(t, x, n);
      for (std::int64_t j = 0; j < n; ++j) x[j] *= scale;
      round_span(t, x, n);
      if (p.has_sinks) {
        const float w_sink = round_to(t, fast_exp(sink - m[r]) / z[r]);
        bw->sink_part[bhs(b, h, r0 + r, s)] = round_to(t, w_sink * (0.0f - dsum));
      }
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int r = 0; r < P && n > 0; r += kRows)
      pv_block<float, kRows, kDimBlock>(&dw[r * n], n, bw->vk.value_row(bg, 0), dpad, g.lo, g.hi, &acc[r * dpad]);
    for (int r = 0; r < nrows; ++r) {
      float* dq = &bw->dq[bshd(b, r0 + r, h, 0, s.tokens, s.heads, D)];
      std::copy(&acc[r * dpad], &acc[r * dpad] + D, dq);
      round_span(t, dq, D);
    }
    for (std::int64_t kb = 0; kb < n; kb += kRows) {
      ptv_block<float, kRows, kDimBlock>(&dw[kb], n, qpad.data(), dpad, 0, nrows, &bw->dk_head[(g.lo + kb) * dpad]);
      ptv_block<float, kRows, kDimBlock>(&w[kb], n, dorows.data(), dpad, 0, nrows, &bw->dv_head[(g.lo + kb) * dpad]);
    }
  }
}

}  // namespace

void naive_attention(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                     int threads) {
  const Shape& s = p.shape;
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    naive_rows(p, in, recipe, kv, out, {}, nullptr, bh / s.heads, bh % s.heads, c * kChunk,
               std::min((c + 1) * kChunk, s.tokens));
  });
  finish_output(recipe, out);
}

void naive_lse(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> lse, int threads) {
  const Shape& s = p.shape;
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  std::vector<float> out(s.q_elements());
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    naive_rows(p, in, recipe, kv, out, lse, nullptr, bh / s.heads, bh % s.heads, c * kChunk,
               std::min((c + 1) * kChunk, s.tokens));
  });
}

Gradients<float> naive_forward_backward(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                                        std::span<float> lse, int threads) {
  const Shape& s = p.shape;
  if (std::int64_t(in.dout.size()) != s.q_elements()) throw std::logic_error("backward without dO (Inputs::dout)");
  const DType t = recipe.eager;
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  const Packed vk(s, in.v.data(), in.k.data(), threads);
  const std::int64_t D = s.head_dim, dpad = kv.dpad, Sk = s.kv_tokens, kd = kv.kpad * dpad;
  Gradients<float> gr;
  gr.dq.resize(s.q_elements());
  gr.dk.resize(s.kv_elements());
  gr.dv.resize(s.kv_elements());
  std::vector<float> sink_part(lse_elements(s));
  // One task per (batch, KV head), which owns dK, dV of that head and every row of its group's
  // query heads: every sum runs in one order for any thread count.
  parallel_for(s.batch * s.kv_heads, threads, [&](std::int64_t bg) {
    const std::int64_t b = bg / s.kv_heads, g = bg % s.kv_heads;
    std::vector<float> dk_head(kd), dv_head(kd), dk(kd, 0.0f), dv(kd, 0.0f);
    const BackwardPart bw{vk, gr.dq, dk_head.data(), dv_head.data(), sink_part.data()};
    for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h) {
      std::fill(dk_head.begin(), dk_head.end(), 0.0f);
      std::fill(dv_head.begin(), dv_head.end(), 0.0f);
      naive_rows(p, in, recipe, kv, out, lse, &bw, b, h, 0, s.tokens);
      // The einsum's gradient of the expanded K and V, rounded; then the expand's backward sums the
      // group's heads in fp32 (ascending) and rounds once more.
      round_span(t, dk_head.data(), kd);
      round_span(t, dv_head.data(), kd);
      for (std::int64_t n = 0; n < kd; ++n) dk[n] += dk_head[n], dv[n] += dv_head[n];
    }
    round_span(t, dk.data(), kd);
    round_span(t, dv.data(), kd);
    for (std::int64_t j = 0; j < Sk; ++j)
      for (std::int64_t d = 0; d < D; ++d) {
        const std::int64_t n = bshd(b, j, g, d, Sk, s.kv_heads, D);
        gr.dk[n] = dk[j * dpad + d];
        gr.dv[n] = dv[j * dpad + d];
      }
  });
  finish_output(recipe, out);
  if (p.has_sinks) {  // dsinks: the sink column's gradient summed over (b, i) in fp32, then rounded
    gr.dsinks.assign(s.heads, 0.0f);
    for (std::int64_t h = 0; h < s.heads; ++h) {
      float acc = 0.0f;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t i = 0; i < s.tokens; ++i) acc += sink_part[bhs(b, h, i, s)];
      gr.dsinks[h] = round_to(t, acc);
    }
  }
  return gr;
}

Gradients<float> naive_backward(const Problem& p, const Inputs& in, const Recipe& recipe, int threads) {
  std::vector<float> out(p.shape.q_elements()), lse(lse_elements(p.shape));
  return naive_forward_backward(p, in, recipe, out, lse, threads);
}

}  // namespace attn
