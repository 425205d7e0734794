// The reference. Everything in float64, the obvious algorithm: for each query row the full visible
// score row, an exact (not online) softmax with the sink logit in its normaliser, then P·V. It never
// tiles over keys, never rounds to a narrower type, never uses intrinsics: whatever a kernel under
// test does clever, this file does the straightforward way, so a disagreement points at the kernel.
//
// It is fast only by data layout: rows go in blocks of kRows through the plain-loop products of
// kernels/blocks.hpp (K and V packed once, read as float and summed in float64), which the compiler
// vectorises, and exp is kernels/fast_math.hpp's float64 polynomial (within 2.5 ulp). Its memory is
// the output plus packed K and V plus, per thread, one block of score rows: never an Sq × Sk matrix.
#include "kernels/golden.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/blocks.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"

namespace attn {

namespace {

constexpr std::int64_t kChunk = 64;  // query rows per task
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;  // float64 sums read the float K and V exactly

// Rows [i0, i1) of (batch b, head h).
ATTN_CLONES void golden_rows(const Problem& p, const Inputs& in, const Packed& kv, std::span<double> out,
                             std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) {
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
    double z[kRows];
    for (int r = 0; r < kRows; ++r) {
      double* w = scores.data() + r * n;  // not &scores[r * n]: scores is empty when no row sees a key
      if (keys[r].empty()) {  // a row with no visible key (or a padding row) is 0, sinks or not
        std::fill(w, w + n, 0.0);
        z[r] = 1.0;
        continue;
      }
      const std::int64_t lo = keys[r].lo - g.lo, hi = keys[r].hi - g.lo;
      for (std::int64_t j = 0; j < n; ++j)
        w[j] = j >= lo && j < hi ? p.scale * w[j] : -std::numeric_limits<double>::infinity();
      const double m = std::max(sink, row_max(w, n));
      for (std::int64_t j = 0; j < n; ++j) w[j] = fast_exp(w[j] - m);
      z[r] = (p.has_sinks ? fast_exp(sink - m) : 0.0) + row_sum(w, n);
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    if (n > 0) pv_block<double, kRows, kDimBlock, DType::f32, float>(scores.data(), n, kv.value_row(bg, 0), dpad, g.lo, g.hi, acc.data());
    for (int r = 0; r < kRows && r0 + r < i1; ++r) {
      double* o = &out[bshd(b, r0 + r, h, 0, s.tokens, s.heads, D)];
      for (std::int64_t d = 0; d < D; ++d) o[d] = keys[r].empty() ? 0.0 : acc[r * dpad + d] / z[r];  // no key: 0
    }
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
    golden_rows(p, in, kv, out, bh / s.heads, bh % s.heads, c * kChunk, std::min((c + 1) * kChunk, s.tokens));
  });
}

}  // namespace attn
