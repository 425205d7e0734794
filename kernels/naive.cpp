// The naive computation models the gpt-oss `sdpa` run eagerly on tensors of dtype t = the recipe's
// eager dtype (its input dtype where PyTorch has eager kernels for it; see recipe.hpp):
//   QK = einsum(Q, K) -> round to t;  QK *= scale -> round;  QK += mask;  cat sinks;
//   W = softmax(QK) (computed in fp32, result rounded);  O = einsum(W, V) (fp32 accumulation, rounded)
// then O is rounded to the recipe's output dtype. Each op accumulates in fp32 internally, as
// PyTorch's CPU kernels do for bf16 and fp16, and rounds its result to the tensor dtype. A finite
// mask_value enters the softmax as a score, exactly as `QK += mask` does; a row with no visible key
// is 0 (SPEC §2) where PyTorch would give NaN.
#include "kernels/naive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/simd_sum.hpp"
#include "kernels/tiled.hpp"
#include "src/parallel.hpp"
#include "src/poison.hpp"

namespace attn {

void naive_attention(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                     int threads) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim;
  const DType t = recipe.eager;
  const float scale = static_cast<float>(p.scale);
  const float mask = round_to(t, recipe.mask_value);
  const bool finite_mask = std::isfinite(mask);

  parallel_for(s.batch * s.heads, threads, [&](std::int64_t task) {
    const std::int64_t b = task / s.heads, h = task % s.heads;
    const std::int64_t kvh = h / s.q_mult();
    const float sink = p.has_sinks ? round_to(t, in.sinks[h]) : 0.0f;
    std::vector<float> w(static_cast<std::size_t>(s.kv_tokens));
    std::vector<float> acc(static_cast<std::size_t>(D));
    poison(w), poison(acc);  // scratch, written before it is read
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      throw_if_interrupted();  // Ctrl-C: a (batch, head) of a long prefill takes seconds
      const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      float* o = &out[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      const auto keys = p.visible_keys(i);
      if (keys.empty()) {
        std::fill(o, o + D, 0.0f);
        continue;
      }
      // With a -inf mask the masked scores contribute exp(-inf) = 0 exactly: only the visible run is
      // computed. A finite mask puts every key in the row.
      const std::int64_t lo = finite_mask ? 0 : keys.lo, hi = finite_mask ? s.kv_tokens : keys.hi;
      float m = p.has_sinks ? sink : -std::numeric_limits<float>::infinity();
      for (std::int64_t j = lo; j < hi; ++j) {
        float x = mask;
        if (j >= keys.lo && j < keys.hi) {
          const float* k = &in.k[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
          x = round_to(t, round_to(t, lane_dot<float>(q, k, D)) * scale);
        }
        w[j - lo] = x;
        m = std::max(m, x);
      }
      float z = p.has_sinks ? std::exp(sink - m) : 0.0f;
      for (std::int64_t j = lo; j < hi; ++j) {
        w[j - lo] = std::exp(w[j - lo] - m);
        z += w[j - lo];
      }
      for (std::int64_t j = lo; j < hi; ++j) w[j - lo] = round_to(t, w[j - lo] / z);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = lo; j < hi; ++j) {
        const float* v = &in.v[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
        for (std::int64_t d = 0; d < D; ++d) acc[d] += w[j - lo] * v[d];
      }
      for (std::int64_t d = 0; d < D; ++d) o[d] = round_to(t, acc[d]);
    }
  });
  finish_output(recipe, out);
}

}  // namespace attn
