// The tiled kernel: per (batch, query head, query tile) an online softmax over KV tiles, written
// the way NKI and FlashAttention-2 kernels are, with the recipe's rounding at each point:
//   S = scale·Q_t·K_tᵀ (fp32 dot, fixed lane order)   m' = max(m, rowmax S)
//   P = exp(S - m')                                     l = l·exp(m - m') + rowsum P
//   acc = acc·exp(m - m') + round_probs(P)·V_t          O = round_out(acc / (l + exp(sink - m)))
// Masked entries are excluded; a KV tile with no visible key for any row of the Q tile is skipped.
#include "kernels/tiled.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/simd_sum.hpp"
#include "src/parallel.hpp"

namespace attn {

namespace {

constexpr float kLog2e = 1.4426950408889634f;

// One (batch, head, query tile) of the kernel.
struct TileJob {
  const Problem& p;
  const Inputs& in;
  const TiledOptions& opt;
  std::span<float> out;

  void run(std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) const {
    const Shape& s = p.shape;
    const std::int64_t D = s.head_dim, rows = i1 - i0, kvh = h / s.q_mult();
    const Recipe& r = opt.recipe;
    // With exp2 the log2(e) factor is folded into the scale once, and m, S, sink live in log2 units.
    const float scale = static_cast<float>(p.scale) * (r.exp2 ? kLog2e : 1.0f);
    const float sink = p.has_sinks ? in.sinks[h] * (r.exp2 ? kLog2e : 1.0f)
                                   : -std::numeric_limits<float>::infinity();
    auto ex = [&](float x) { return r.exp2 ? std::exp2(x) : std::exp(x); };

    std::vector<float> m(rows, sink), l(rows, 0.0f), acc(rows * D, 0.0f), sc(opt.tiles.kv);
    std::int64_t lo_all = s.kv_tokens, hi_all = 0;
    for (std::int64_t i = i0; i < i1; ++i) {
      const auto k = p.visible_keys(i);
      if (!k.empty()) lo_all = std::min(lo_all, k.lo), hi_all = std::max(hi_all, k.hi);
    }
    for (std::int64_t j0 = 0; j0 < s.kv_tokens; j0 += opt.tiles.kv) {
      const std::int64_t j1 = std::min(j0 + opt.tiles.kv, s.kv_tokens);
      if (j1 <= lo_all || j0 >= hi_all) continue;  // fully masked for every row: skipped
      for (std::int64_t i = i0; i < i1; ++i) {
        const auto keys = p.visible_keys(i);
        const std::int64_t a = std::max(j0, keys.lo), e = std::min(j1, keys.hi);
        if (a >= e) continue;
        const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
        float* row_acc = &acc[(i - i0) * D];
        float& row_m = m[i - i0];
        float& row_l = l[i - i0];
        float mx = row_m;
        for (std::int64_t j = a; j < e; ++j) {
          const float* k = &in.k[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
          sc[j - a] = scale * lane_dot<float>(q, k, D);
          mx = std::max(mx, sc[j - a]);
        }
        const float alpha = ex(row_m - mx);  // exp(-inf - finite) = 0 on the first visible tile
        float rowsum = 0.0f;
        for (std::int64_t d = 0; d < D; ++d) row_acc[d] *= alpha;
        for (std::int64_t j = a; j < e; ++j) {
          const float pj = ex(sc[j - a] - mx);
          rowsum += pj;
          const float pv = round_to(r.probs, pj);
          const float* v = &in.v[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
          for (std::int64_t d = 0; d < D; ++d) row_acc[d] += pv * v[d];
        }
        row_l = row_l * alpha + rowsum;
        row_m = mx;
      }
    }
    for (std::int64_t i = i0; i < i1; ++i) {
      float* o = &out[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      const float* row_acc = &acc[(i - i0) * D];
      const float denom = l[i - i0] + (p.has_sinks ? ex(sink - m[i - i0]) : 0.0f);
      for (std::int64_t d = 0; d < D; ++d)
        o[d] = denom > 0.0f ? round_to(r.output, row_acc[d] / denom) : 0.0f;  // empty row: 0
    }
  }
};

}  // namespace

void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out) {
  const Shape& s = p.shape;
  const std::int64_t q_tiles = (s.tokens + opt.tiles.q - 1) / opt.tiles.q;
  const TileJob job{p, in, opt, out};
  parallel_for(s.batch * s.heads * q_tiles, opt.threads, [&](std::int64_t task) {
    const std::int64_t t = task % q_tiles, bh = task / q_tiles;
    const std::int64_t i0 = t * opt.tiles.q;
    job.run(bh / s.heads, bh % s.heads, i0, std::min(i0 + opt.tiles.q, s.tokens));
  });
}

}  // namespace attn
