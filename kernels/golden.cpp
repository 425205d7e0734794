// The reference. Everything in float64, the obvious algorithm: for each query row the full visible
// score row, an exact (not online) softmax with the sink logit in its normaliser, then P·V. It never
// tiles over keys, never rounds to a narrower type, never uses intrinsics: whatever a kernel under
// test does clever, this file does the straightforward way, so a disagreement points at the kernel.
//
// It is fast only by data layout: rows go in blocks of kRows through the plain-loop products of
// kernels/blocks.hpp (K and V packed once, read as float and summed in float64), which the compiler
// vectorises, and exp is kernels/fast_math.hpp's float64 polynomial (within 2.5 ulp). Its memory is
// the output plus packed K and V plus, per thread, one block of score rows: never an Sq × Sk matrix.
//
// The backward (SPEC §10) follows the forward, which leaves each row's output and LSE: per (batch,
// KV head), over chunks of keys, P = exp(scale·Q·Kᵀ - lse), dP = dO·Vᵀ, dS = P ∘ (dP − D) with
// D_i = dO_i·O_i from golden's own output, dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO, straight
// from the formulas through the same blocked products (every sum an fma chain in float64). It
// reuses no kernel's products and rounds nothing: a disagreement with the tiled backward points at
// the tiled backward. A task owns dK and dV of its KV head, so every gradient element is summed in
// one order (dQ_i over keys ascending; dK_j, dV_j over the group's heads, then rows, ascending)
// whatever the thread count; dsinks[h] = -sum over (b, i) of p_sink,i D_i, summed after the tasks.
#include "kernels/golden.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/backward.hpp"
#include "kernels/blocks.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"

namespace attn {

namespace {

constexpr std::int64_t kChunk = 64;  // query rows per task
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;  // float64 sums read the float K and V exactly

// Rows [i0, i1) of (batch b, head h); lse (when not empty) gets their LSE.
ATTN_CLONES void golden_rows(const Problem& p, const Inputs& in, const Packed& kv, std::span<double> out,
                             std::span<double> lse, std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, dpad = kv.dpad;
  const std::int64_t bg = b * s.kv_heads + h / s.q_mult();  // GQA: query head h reads kv head h / q_mult
  const double sink = p.has_sinks ? double(in.sinks[h]) : -std::numeric_limits<double>::infinity();
  thread_local std::vector<double> q, scores, acc;
  q.resize(kRows * D), acc.resize(kRows * dpad);
  const double* qrows[kRows];
  for (std::int64_t r0 = i0; r0 < i1; r0 += kRows) {
    Problem::KeyRange keys[kRows];
    Span span;
    for (int r = 0; r < kRows; ++r) {
      const std::int64_t i = std::min(r0 + r, i1 - 1);
      keys[r] = r0 + r < i1 ? p.visible_keys(i) : Problem::KeyRange{0, 0};
      span.add(keys[r].lo, keys[r].hi);
      const float* qi = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      for (std::int64_t d = 0; d < D; ++d) q[r * D + d] = qi[d];
      qrows[r] = &q[r * D];
    }
    const Span g = span.aligned(kKeyBlock);
    const std::int64_t n = g.hi - g.lo;
    scores.resize(kRows * n);
    poison(scores);  // scratch, written before it is read
    // s_ij = scale * <q_i, k_j>; softmax over the visible scores plus the sink logit, whose
    // probability is dropped; keys a row does not see get probability 0.
    qk_block<double, kRows, kKeyBlock, float>(qrows, kv.key_block(bg, 0), D, g.lo, g.hi, scores.data(), n);
    double z[kRows], m[kRows];
    for (int r = 0; r < kRows; ++r) {
      double* w = scores.data() + r * n;  // not &scores[r * n]: scores is empty when no row sees a key
      if (keys[r].empty()) {  // a row with no visible key (or a padding row) is 0, sinks or not
        std::fill(w, w + n, 0.0);
        z[r] = 1.0, m[r] = sink;
        continue;
      }
      const std::int64_t lo = keys[r].lo - g.lo, hi = keys[r].hi - g.lo;
      for (std::int64_t j = 0; j < n; ++j)
        w[j] = j >= lo && j < hi ? p.scale * w[j] : -std::numeric_limits<double>::infinity();
      m[r] = std::max(sink, row_max(w, n));
      for (std::int64_t j = 0; j < n; ++j) w[j] = fast_exp(w[j] - m[r]);
      z[r] = (p.has_sinks ? fast_exp(sink - m[r]) : 0.0) + row_sum(w, n);
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    if (n > 0) pv_block<double, kRows, kDimBlock, DType::f32, float>(scores.data(), n, kv.value_row(bg, 0), dpad, g.lo, g.hi, acc.data());
    for (int r = 0; r < kRows && r0 + r < i1; ++r) {
      double* o = &out[bshd(b, r0 + r, h, 0, s.tokens, s.heads, D)];
      for (std::int64_t d = 0; d < D; ++d) o[d] = keys[r].empty() ? 0.0 : acc[r * dpad + d] / z[r];  // no key: 0
      // lse = m + log Z, the sink in Z; a row with no visible key has the sink's logit, or -inf (SPEC §10)
      if (!lse.empty()) lse[bhs(b, h, r0 + r, s)] = keys[r].empty() ? sink : m[r] + std::log(z[r]);
    }
  }
}

constexpr std::int64_t kBwdKeys = 128;  // keys per chunk of the backward: its dK and dV stay in cache
constexpr int kBwdRows = 4 * kRows;      // query rows per panel of the backward: each dK, dV load serves them all

// The backward of (batch b, KV head g): dK and dV of that head, dQ of its group's query heads, each
// row's term of dsinks (sink_part). Key chunks outer, the group's heads and row blocks inner, so the
// chunk's dK and dV accumulators stay in cache and every row's dQ accumulates chunk after chunk
// (keys ascending, as one sum). Per row block and chunk: S = scale·Q·Kᵀ, P = exp(S - lse) on the
// visible keys (0 elsewhere), dP = dO·Vᵀ, dS = P ∘ (dP - D); dQ += dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO.
ATTN_CLONES void golden_backward_task(const Problem& p, const Inputs& in, const Packed& kv, const Packed& vk,
                                      std::span<const double> out, std::span<const double> lse, Gradients<double>& gr,
                                      double* sink_part, std::int64_t b, std::int64_t g) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, dpad = kv.dpad, Sk = s.kv_tokens, H = s.q_mult();
  const std::int64_t Sq = (s.tokens + kBwdRows - 1) / kBwdRows * kBwdRows;  // rows per head, padded to whole panels
  const std::int64_t bg = b * s.kv_heads + g;
  // The group's Q and dO rows in float64, zero padded, [head of the group][row][dpad]; D_i; dQ sums.
  std::vector<double> q(H * Sq * dpad, 0.0), dout(q.size(), 0.0), dq(q.size(), 0.0), delta(H * Sq, 0.0);
  std::vector<Problem::KeyRange> keys(Sq);
  for (std::int64_t i = 0; i < Sq; ++i) keys[i] = i < s.tokens ? p.visible_keys(i) : Problem::KeyRange{0, 0};
  for (std::int64_t hh = 0; hh < H; ++hh) {
    const std::int64_t h = g * H + hh;
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const std::int64_t n = bshd(b, i, h, 0, s.tokens, s.heads, D), row = hh * Sq + i;
      double dsum = 0.0;
      for (std::int64_t d = 0; d < D; ++d) {
        q[row * dpad + d] = in.q[n + d];
        dout[row * dpad + d] = in.dout[n + d];
        dsum = std::fma(double(in.dout[n + d]), out[n + d], dsum);
      }
      delta[row] = keys[i].empty() ? 0.0 : dsum;  // D_i = dO_i·O_i
      // the sink's share of dsinks[h]: -p_sink,i D_i (a row with no visible key has no gradient)
      sink_part[bhs(b, h, i, s)] =
          keys[i].empty() || !p.has_sinks ? 0.0 : -fast_exp(double(in.sinks[h]) - lse[bhs(b, h, i, s)]) * dsum;
    }
  }
  thread_local std::vector<double> sc, ds, dk, dv;
  sc.resize(kBwdRows * kBwdKeys), ds.resize(kBwdRows * kBwdKeys), dk.resize(kBwdKeys * dpad), dv.resize(kBwdKeys * dpad);
  for (std::int64_t c0 = 0; c0 < Sk; c0 += kBwdKeys) {
    const std::int64_t c1 = std::min(c0 + kBwdKeys, Sk);
    std::fill(dk.begin(), dk.end(), 0.0);
    std::fill(dv.begin(), dv.end(), 0.0);
    for (std::int64_t hh = 0; hh < H; ++hh) {
      const std::int64_t h = g * H + hh;
      for (std::int64_t r0 = 0; r0 < Sq; r0 += kBwdRows) {
        Span span;  // the chunk's keys the panel's rows see
        for (int r = 0; r < kBwdRows; ++r) span.add(std::max(keys[r0 + r].lo, c0), std::min(keys[r0 + r].hi, c1));
        if (span.empty()) continue;
        const Span w = span.aligned(kKeyBlock);
        const std::int64_t n = w.hi - w.lo;
        const double* qrows[kBwdRows];
        const double* drows[kBwdRows];
        for (int r = 0; r < kBwdRows; ++r) qrows[r] = &q[(hh * Sq + r0 + r) * dpad], drows[r] = &dout[(hh * Sq + r0 + r) * dpad];
        for (int r = 0; r < kBwdRows; r += kRows) {
          qk_block<double, kRows, kKeyBlock, float>(qrows + r, kv.key_block(bg, 0), D, w.lo, w.hi, &sc[r * n], n);
          qk_block<double, kRows, kKeyBlock, float>(drows + r, vk.key_block(bg, 0), D, w.lo, w.hi, &ds[r * n], n);
        }
        for (int r = 0; r < kBwdRows; ++r) {
          const std::int64_t i = r0 + r, row = hh * Sq + i;
          const std::int64_t lo = std::max(keys[i].lo, w.lo) - w.lo, hi = std::min(keys[i].hi, w.hi) - w.lo;
          const double l = i < s.tokens ? lse[bhs(b, h, i, s)] : 0.0;
          double* pr = &sc[r * n];
          double* dsr = &ds[r * n];
          // three plain loops, so that each vectorises: fast_exp(-inf) = 0 for the keys the row does not see
          for (std::int64_t j = 0; j < n; ++j)
            pr[j] = j >= lo && j < hi ? p.scale * pr[j] - l : -std::numeric_limits<double>::infinity();
          for (std::int64_t j = 0; j < n; ++j) pr[j] = fast_exp(pr[j]);
          for (std::int64_t j = 0; j < n; ++j) dsr[j] = pr[j] * (dsr[j] - delta[row]);
        }
        for (int r = 0; r < kBwdRows; r += kRows)
          pv_block<double, kRows, kDimBlock, DType::f32, float>(&ds[r * n], n, vk.value_row(bg, 0), dpad, w.lo, w.hi,
                                                                &dq[(hh * Sq + r0 + r) * dpad]);
        for (std::int64_t kb = 0; kb < n; kb += kRows) {
          const std::int64_t at = (w.lo - c0 + kb) * dpad;
          ptv_block<double, kRows, kDimBlock>(&sc[kb], n, &dout[(hh * Sq + r0) * dpad], dpad, 0, kBwdRows, &dv[at]);
          ptv_block<double, kRows, kDimBlock>(&ds[kb], n, &q[(hh * Sq + r0) * dpad], dpad, 0, kBwdRows, &dk[at]);
        }
      }
    }
    for (std::int64_t j = c0; j < c1; ++j)
      for (std::int64_t d = 0; d < D; ++d) {
        const std::int64_t n = bshd(b, j, g, d, Sk, s.kv_heads, D);
        gr.dk[n] = p.scale * dk[(j - c0) * dpad + d];
        gr.dv[n] = dv[(j - c0) * dpad + d];
      }
  }
  for (std::int64_t hh = 0; hh < H; ++hh)
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      double* o = &gr.dq[bshd(b, i, g * H + hh, 0, s.tokens, s.heads, D)];
      for (std::int64_t d = 0; d < D; ++d) o[d] = p.scale * dq[(hh * Sq + i) * dpad + d];
    }
}

// probs_rounding_bound over rows [i0, i1) of (batch b, head h): plain loops, as it runs only for
// the recipes that round P more coarsely than the eager reference (fp8) and only once per case.
double rounding_rows(const Problem& p, const Inputs& in, double u, double abs_floor, std::int64_t b, std::int64_t h,
                     std::int64_t i0, std::int64_t i1) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, g = h / s.q_mult();
  const double sink = p.has_sinks ? double(in.sinks[h]) : -std::numeric_limits<double>::infinity();
  std::vector<double> sc, worst(D), square(D);
  double out = 0.0;
  for (std::int64_t i = i0; i < i1; ++i) {
    const Problem::KeyRange keys = p.visible_keys(i);
    if (keys.empty()) continue;
    const float* qi = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
    sc.assign(keys.hi - keys.lo, 0.0);
    double m = sink;
    for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
      const float* kj = &in.k[bshd(b, j, g, 0, s.kv_tokens, s.kv_heads, D)];
      double dot = 0.0;
      for (std::int64_t d = 0; d < D; ++d) dot += double(qi[d]) * double(kj[d]);
      sc[j - keys.lo] = p.scale * dot;
      m = std::max(m, sc[j - keys.lo]);
    }
    double l = p.has_sinks ? std::exp(sink - m) : 0.0;
    std::fill(worst.begin(), worst.end(), 0.0);
    std::fill(square.begin(), square.end(), 0.0);
    // The key that sets the row max (when no sink is above it) has probability exp(0) = 1 in the
    // kernel, which every format holds exactly; abs_floor covers a near tie that float scores order
    // the other way (then its probability is within float rounding of 1).
    const std::int64_t top = m > sink ? keys.lo + (std::max_element(sc.begin(), sc.end()) - sc.begin()) : -1;
    for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
      const double pj = std::exp(sc[j - keys.lo] - m);
      l += pj;
      const double e = j == top ? abs_floor : std::max(u * pj, abs_floor);
      const float* vj = &in.v[bshd(b, j, g, 0, s.kv_tokens, s.kv_heads, D)];
      for (std::int64_t d = 0; d < D; ++d) {
        const double ev = e * std::abs(double(vj[d]));
        worst[d] += ev;
        square[d] += ev * ev;
      }
    }
    for (std::int64_t d = 0; d < D; ++d) out = std::max(out, std::min(worst[d], 3.0 * std::sqrt(square[d])) / l);
  }
  return out;
}

}  // namespace

double probs_rounding_bound(const Problem& p, const Inputs& in, double u, double abs_floor, int threads) {
  const Shape& s = p.shape;
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  std::vector<double> part(s.batch * s.heads * chunks, 0.0);  // one slot per task: any thread count, same max
  parallel_for(std::int64_t(part.size()), threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    part[task] = rounding_rows(p, in, u, abs_floor, bh / s.heads, bh % s.heads, c * kChunk,
                               std::min((c + 1) * kChunk, s.tokens));
  });
  return part.empty() ? 0.0 : *std::max_element(part.begin(), part.end());
}

void golden_attention(const Problem& p, const Inputs& in, std::span<double> out, int threads) {
  const Shape& s = p.shape;
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  // One task per (batch, head, chunk of rows): each writes its own rows, so the result is the same
  // for any number of threads.
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    golden_rows(p, in, kv, out, {}, bh / s.heads, bh % s.heads, c * kChunk, std::min((c + 1) * kChunk, s.tokens));
  });
}

void golden_lse(const Problem& p, const Inputs& in, std::span<double> lse, int threads) {
  const Shape& s = p.shape;
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  std::vector<double> out(s.q_elements());
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    golden_rows(p, in, kv, out, lse, bh / s.heads, bh % s.heads, c * kChunk, std::min((c + 1) * kChunk, s.tokens));
  });
}

Gradients<double> golden_forward_backward(const Problem& p, const Inputs& in, std::span<double> out,
                                          std::span<double> lse, int threads) {
  const Shape& s = p.shape;
  if (std::int64_t(in.dout.size()) != s.q_elements()) throw std::logic_error("backward without dO (Inputs::dout)");
  const Packed kv(s, in.k.data(), in.v.data(), threads);
  const Packed vk(s, in.v.data(), in.k.data(), threads);
  const std::int64_t chunks = (s.tokens + kChunk - 1) / kChunk;
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    golden_rows(p, in, kv, out, lse, bh / s.heads, bh % s.heads, c * kChunk, std::min((c + 1) * kChunk, s.tokens));
  });
  Gradients<double> gr;
  gr.dq.resize(s.q_elements());
  gr.dk.resize(s.kv_elements());
  gr.dv.resize(s.kv_elements());
  std::vector<double> sink_part(lse_elements(s));
  // One task per (batch, KV head): it owns dK and dV of that head and every row of its group's query
  // heads, so each gradient element is summed in one fixed order whatever the thread count.
  parallel_for(s.batch * s.kv_heads, threads, [&](std::int64_t bg) {
    golden_backward_task(p, in, kv, vk, out, lse, gr, sink_part.data(), bg / s.kv_heads, bg % s.kv_heads);
  });
  // dsinks[h] sums over (b, i) across tasks: here, in one fixed order, after they are all done.
  if (p.has_sinks) {
    gr.dsinks.assign(s.heads, 0.0);
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t i = 0; i < s.tokens; ++i) gr.dsinks[h] += sink_part[bhs(b, h, i, s)];
  }
  return gr;
}

Gradients<double> golden_backward(const Problem& p, const Inputs& in, int threads) {
  std::vector<double> out(p.shape.q_elements()), lse(lse_elements(p.shape));
  return golden_forward_backward(p, in, out, lse, threads);
}

}  // namespace attn
