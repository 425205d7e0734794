// The reference. It is boring on purpose: plain loops over one query row at a time, the full
// visible score row, an exact softmax in float64, then P·V. It never tiles, never rounds to a
// narrower type, never uses intrinsics or an online softmax: whatever a kernel under test does
// clever, this file does the obvious way, so a disagreement points at the kernel.
#include "kernels/golden.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "src/parallel.hpp"
#include "src/poison.hpp"

namespace attn {

void golden_attention(const Problem& p, const Inputs& in, std::span<double> out, int threads) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim;
  // One task per (batch, head): each writes its own rows, so the result is the same for any
  // number of threads.
  parallel_for(s.batch * s.heads, threads, [&](std::int64_t task) {
    const std::int64_t b = task / s.heads, h = task % s.heads;
    std::vector<double> scores(static_cast<std::size_t>(s.kv_tokens));
    std::vector<double> acc(static_cast<std::size_t>(D));
    poison(scores), poison(acc);  // scratch, written before it is read
    for (std::int64_t i = 0; i < s.tokens; ++i) {
      throw_if_interrupted();  // Ctrl-C: a (batch, head) of a long prefill takes seconds
      const std::int64_t kvh = h / s.q_mult();  // GQA: query head h reads kv head h / q_mult
      const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      double* o = &out[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      const auto keys = p.visible_keys(i);
      if (keys.empty()) {  // a row with no visible key is exactly 0, sinks or not
        std::fill(o, o + D, 0.0);
        continue;
      }
      // s_ij = scale * <q_i, k_j> over the visible keys
      double m = p.has_sinks ? double(in.sinks[h]) : -std::numeric_limits<double>::infinity();
      for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
        const float* k = &in.k[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
        double dot = 0.0;
        for (std::int64_t d = 0; d < D; ++d) dot += double(q[d]) * double(k[d]);
        scores[j - keys.lo] = p.scale * dot;
        m = std::max(m, scores[j - keys.lo]);
      }
      // softmax over visible scores plus the sink logit; the sink's probability is dropped
      double z = p.has_sinks ? std::exp(double(in.sinks[h]) - m) : 0.0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
        const double w = std::exp(scores[j - keys.lo] - m);
        z += w;
        const float* v = &in.v[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
        for (std::int64_t d = 0; d < D; ++d) acc[d] += w * double(v[d]);
      }
      for (std::int64_t d = 0; d < D; ++d) o[d] = acc[d] / z;
    }
  });
}

}  // namespace attn
