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
#include "kernels/naive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/blocks.hpp"
#include "kernels/tiled.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"

namespace attn {

namespace {

constexpr std::int64_t kChunk = 64;  // query rows per task
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;

// Rows [i0, i1) of (batch b, head h).
ATTN_CLONES void naive_rows(const Problem& p, const Inputs& in, const Recipe& recipe, const Packed& kv,
                            std::span<float> out, std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, dpad = kv.dpad;
  const std::int64_t bg = b * s.kv_heads + h / s.q_mult();
  const DType t = recipe.eager;
  const float scale = static_cast<float>(p.scale);
  const float mask = round_to(t, recipe.mask_value);
  const bool finite_mask = std::isfinite(mask);
  const float sink = p.has_sinks ? round_to(t, in.sinks[h]) : -std::numeric_limits<float>::infinity();
  thread_local std::vector<float> w, acc;
  acc.resize(kRows * dpad);
  const float* qrows[kRows];
  for (std::int64_t r0 = i0; r0 < i1; r0 += kRows) {
    Problem::KeyRange keys[kRows];
    std::int64_t first[kRows], last[kRows];
    Span span;
    for (int r = 0; r < kRows; ++r) {
      const std::int64_t i = std::min(r0 + r, i1 - 1);
      keys[r] = r0 + r < i1 ? p.visible_keys(i) : Problem::KeyRange{0, 0};
      // With a -inf mask the masked scores contribute exp(-inf) = 0 exactly: only the visible run is
      // computed. A finite mask puts every key in the row.
      first[r] = keys[r].empty() ? 0 : finite_mask ? 0 : keys[r].lo;
      last[r] = keys[r].empty() ? 0 : finite_mask ? s.kv_tokens : keys[r].hi;
      span.add(first[r], last[r]);
      qrows[r] = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
    }
    const Span g = span.aligned(kKeyBlock);
    const std::int64_t n = g.hi - g.lo;
    w.resize(kRows * n);
    poison(w);  // scratch, written before it is read
    qk_block<float, kRows, kKeyBlock>(qrows, kv.key_block(bg, 0), D, g.lo, g.hi, w.data(), n);
    for (int r = 0; r < kRows; ++r) {
      float* x = w.data() + r * n;  // not &w[r * n]: w is empty when no row sees a key
      if (keys[r].empty()) {  // a row with no visible key (or a padding row) is 0
        std::fill(x, x + n, 0.0f);
        continue;
      }
      round_span(t, x, n);
      for (std::int64_t j = 0; j < n; ++j) x[j] *= scale;
      round_span(t, x, n);
      const std::int64_t a = keys[r].lo - g.lo, e = keys[r].hi - g.lo, f = first[r] - g.lo, l = last[r] - g.lo;
      for (std::int64_t j = 0; j < n; ++j)
        x[j] = j >= a && j < e ? x[j] : j >= f && j < l ? mask : -std::numeric_limits<float>::infinity();
      const float m = std::max(sink, row_max(x, n));
      for (std::int64_t j = 0; j < n; ++j) x[j] = fast_exp(x[j] - m);
      const float z = (p.has_sinks ? fast_exp(sink - m) : 0.0f) + row_sum(x, n);
      for (std::int64_t j = 0; j < n; ++j) x[j] /= z;
      round_span(t, x, n);
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    if (n > 0) pv_block<float, kRows, kDimBlock>(w.data(), n, kv.value_row(bg, 0), dpad, g.lo, g.hi, acc.data());
    for (int r = 0; r < kRows && r0 + r < i1; ++r) {
      float* o = &out[bshd(b, r0 + r, h, 0, s.tokens, s.heads, D)];
      std::copy(&acc[r * dpad], &acc[r * dpad] + D, o);
      round_span(t, o, D);
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
    naive_rows(p, in, recipe, kv, out, bh / s.heads, bh % s.heads, c * kChunk, std::min((c + 1) * kChunk, s.tokens));
  });
  finish_output(recipe, out);
}

}  // namespace attn
