// The naive computation models the gpt-oss `sdpa` run eagerly on tensors of the recipe's input
// dtype: QK = einsum(Q, K) -> round; QK *= scale -> round; cat sinks; softmax (computed in fp32,
// result rounded); W·V (fp32 accumulation, result rounded). Each op accumulates in fp32 internally,
// as PyTorch's CPU kernels do for bf16 and fp16, and rounds its result to the tensor dtype.
#include "kernels/naive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/simd_sum.hpp"
#include "src/parallel.hpp"

namespace attn {

void naive_attention(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                     int threads) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim;
  const DType t = recipe.input;
  const float scale = static_cast<float>(p.scale);

  parallel_for(s.batch * s.heads, threads, [&](std::int64_t task) {
    const std::int64_t b = task / s.heads, h = task % s.heads;
    const std::int64_t kvh = h / s.q_mult();
    std::vector<float> w(static_cast<std::size_t>(s.kv_tokens));
    std::vector<float> acc(static_cast<std::size_t>(D));
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      float* o = &out[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      const auto keys = p.visible_keys(i);
      if (keys.empty()) {
        std::fill(o, o + D, 0.0f);
        continue;
      }
      const std::int64_t n = keys.size();
      float m = p.has_sinks ? in.sinks[h] : -std::numeric_limits<float>::infinity();
      for (std::int64_t j = 0; j < n; ++j) {
        const float* k = &in.k[bshd(b, keys.lo + j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
        const float qk = round_to(t, lane_dot<float>(q, k, D));
        w[j] = round_to(t, qk * scale);
        m = std::max(m, w[j]);
      }
      // softmax in fp32 over the visible scores and the sink, probabilities rounded to t
      float z = p.has_sinks ? std::exp(in.sinks[h] - m) : 0.0f;
      for (std::int64_t j = 0; j < n; ++j) {
        w[j] = std::exp(w[j] - m);
        z += w[j];
      }
      for (std::int64_t j = 0; j < n; ++j) w[j] = round_to(t, w[j] / z);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = 0; j < n; ++j) {
        const float* v = &in.v[bshd(b, keys.lo + j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
        for (std::int64_t d = 0; d < D; ++d) acc[d] += w[j] * v[d];
      }
      for (std::int64_t d = 0; d < D; ++d) o[d] = round_to(t, acc[d]);
    }
  });
}

}  // namespace attn
