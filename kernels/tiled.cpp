// The tiled kernel: per (batch, query head, query tile) an online softmax over KV tiles, written
// the way NKI and FlashAttention-2 kernels are, with the recipe's rounding at each point:
//   S = scale·Q_t·K_tᵀ (fp32 dot, fixed lane order)   m' = max(m, rowmax S)
//   P = exp(S - m')                                     l = l·exp(m - m') + rowsum P
//   acc = acc·exp(m - m') + round_probs(P)·V_t          O = round_out(acc / (l + exp(sink - m)))
// m starts at the sink logit (or -inf). With a -inf mask, masked entries are excluded; with a finite
// mask_value they enter the tile as that score, as in the gpt-oss Triton kernel. A KV tile with no
// visible key for any row of the Q tile is skipped. int8 inputs multiply integer codes exactly
// (an fp32 sum of products of |code| <= 127 is exact while 127²·D < 2^24, i.e. D <= 1040).
//
// Each mutant is this kernel with one Fault switched on; every fault is tested where its branch
// sits, so the correct path (Fault::none) only pays for a few predictable branches per tile row.
#include "kernels/tiled.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/simd_sum.hpp"
#include "src/parallel.hpp"
#include "src/poison.hpp"

namespace attn {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct TileJob {
  const Problem& p;
  const TiledOptions& opt;
  const float* q;  // Q values (int8: integer codes)
  const float* k;  // K values (int8: integer codes)
  const Inputs& in;
  float qk_scale;  // multiplies the raw dot product: scale (·log2 e with exp2) (·q_scale·k_scale for int8)
  std::span<float> out;

  bool is(Fault f) const { return opt.fault == f; }

  Problem::KeyRange keys(std::int64_t i) const {
    Problem view = p;
    if (is(Fault::causal_ignored)) view.causal = false;
    auto r = view.visible_keys(i);
    if (r.empty()) return r;
    if (is(Fault::window_off_by_one) && p.window > 0) {
      r.lo = std::max<std::int64_t>(0, r.lo - 1);
      if (!view.causal) r.hi = std::min(p.shape.kv_tokens, r.hi + 1);
    }
    if (is(Fault::prefix_skipped)) r.lo = std::max(r.lo, std::min(p.shape.q_offset, r.hi));
    return r;
  }

  void run(std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) const {
    const Shape& s = p.shape;
    const Recipe& r = opt.recipe;
    const std::int64_t D = s.head_dim, rows = i1 - i0;
    const std::int64_t kvh = is(Fault::gqa_interleaved) ? h % s.kv_heads : h / s.q_mult();
    const bool sinks = p.has_sinks && !is(Fault::no_sinks);
    const float log_unit = r.exp2 ? kLog2e : 1.0f;  // with exp2, S, m and the sink live in log2 units
    const float sink = sinks ? in.sinks[h] * log_unit : -kInf;
    const float mask = is(Fault::finite_mask_leak) ? round_bf16(-1e4f) : r.mask_value;
    const bool finite_mask = std::isfinite(mask);
    auto ex = [&](float x) { return r.exp2 ? std::exp2(x) : std::exp(x); };

    std::vector<float> m(rows, sink), l(rows, 0.0f), acc(rows * D, 0.0f), sc(opt.tiles.kv);
    poison(sc);  // scratch: every score is written before it is read
    std::vector<float> tile_max(rows, -kInf);
    std::vector<char> seen(rows, 0);
    std::int64_t lo_all = s.kv_tokens, hi_all = 0;
    for (std::int64_t i = i0; i < i1; ++i) {
      const auto kr = keys(i);
      if (!kr.empty()) lo_all = std::min(lo_all, kr.lo), hi_all = std::max(hi_all, kr.hi);
    }
    const std::int64_t T = opt.tiles.kv;
    const std::int64_t kv_tiles = is(Fault::kv_tail_dropped) ? std::max<std::int64_t>(1, s.kv_tokens / T)
                                                              : (s.kv_tokens + T - 1) / T;
    const std::int64_t skip_margin = is(Fault::tile_skip_off_by_one) ? 1 : 0;
    for (std::int64_t t = 0; t < kv_tiles; ++t) {
      const std::int64_t j0 = t * T, j1 = std::min(j0 + T, s.kv_tokens);
      if (j1 <= lo_all + skip_margin || j0 >= hi_all - skip_margin) continue;  // fully masked: skipped
      for (std::int64_t i = i0; i < i1; ++i) {
        const auto kr = keys(i);
        const std::int64_t a = std::max(j0, kr.lo), e = std::min(j1, kr.hi);
        // With a -inf mask only the visible run of the tile is touched; a finite mask scores the
        // whole tile, masked keys included.
        const std::int64_t first = finite_mask ? j0 : a, last = finite_mask ? j1 : e;
        if (first >= last) continue;
        const std::int64_t row = i - i0;
        const float* qrow = &q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
        float mx = m[row], local = -kInf;
        for (std::int64_t j = first; j < last; ++j) {
          float x = mask;
          if (j >= a && j < e) {
            float dot = lane_dot<float>(qrow, &k[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)], D);
            if (is(Fault::int8_saturation)) dot = std::clamp(dot, -128.0f, 127.0f);
            x = qk_scale * dot;
          }
          sc[j - first] = x;
          local = std::max(local, x);
        }
        mx = std::max(mx, local);
        tile_max[row] = local;
        seen[row] |= a < e;
        const float alpha = is(Fault::no_rescale) ? 1.0f : ex(m[row] - mx);  // 0 on the first tile
        float* racc = &acc[row * D];
        for (std::int64_t d = 0; d < D; ++d) racc[d] *= alpha;
        float rowsum = 0.0f;
        for (std::int64_t j = first; j < last; ++j) {
          const float pj = ex(sc[j - first] - mx);
          rowsum += pj;
          const float pv = round_to(r.probs, pj);
          const float* v = &in.v[bshd(b, j, kvh, 0, s.kv_tokens, s.kv_heads, D)];
          for (std::int64_t d = 0; d < D; ++d) racc[d] += pv * v[d];
          if (is(Fault::acc_bf16))
            for (std::int64_t d = 0; d < D; ++d) racc[d] = round_bf16(racc[d]);
        }
        l[row] = l[row] * alpha + rowsum;
        m[row] = mx;
      }
    }
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t row = i - i0;
      float* o = &out[bshd(b, i, h, 0, s.tokens, s.heads, D)];
      float sink_term = 0.0f;
      if (sinks) {
        const float ref = is(Fault::sink_not_in_max) ? 0.0f : is(Fault::stale_max) ? tile_max[row] : m[row];
        sink_term = ex(sink - ref);
      }
      const float denom = l[row] + sink_term;
      const bool empty = !seen[row] && !is(Fault::finite_mask_leak);  // a row with no key is exactly 0
      for (std::int64_t d = 0; d < D; ++d) o[d] = empty || denom == 0.0f ? 0.0f : acc[row * D + d] / denom;
    }
  }
};

}  // namespace

void finish_output(const Recipe& r, std::span<float> out) { quantize_all(r.output, out, nullptr); }

void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out) {
  const Shape& s = p.shape;
  const Recipe& r = opt.recipe;
  float scale = static_cast<float>(p.scale);
  if (opt.fault == Fault::no_scale) scale = 1.0f;
  if (opt.fault == Fault::double_scale) scale *= scale;
  if (r.exp2) scale *= kLog2e;

  // int8: multiply the integer codes (exact in fp32) and apply both tensor scales once per score.
  std::vector<float> q_codes, k_codes;
  const float* q = in.q.data();
  const float* k = in.k.data();
  if (r.input == DType::int8) {
    q_codes.resize(in.q.size());
    k_codes.resize(in.k.size());
    for (std::size_t n = 0; n < in.q.size(); ++n) q_codes[n] = std::nearbyint(in.q[n] / in.q_scale);
    for (std::size_t n = 0; n < in.k.size(); ++n) k_codes[n] = std::nearbyint(in.k[n] / in.k_scale);
    q = q_codes.data();
    k = k_codes.data();
    scale *= in.q_scale * in.k_scale;
  }

  const std::int64_t Tq = opt.tiles.q;
  const std::int64_t q_tiles = opt.fault == Fault::q_tail_dropped ? std::max<std::int64_t>(1, s.tokens / Tq)
                                                                  : (s.tokens + Tq - 1) / Tq;
  if (q_tiles * Tq < s.tokens)  // rows the q_tail_dropped mutant never computes stay 0
    for (std::int64_t b = 0; b < s.batch; ++b)
      std::fill(out.begin() + bshd(b, q_tiles * Tq, 0, 0, s.tokens, s.heads, s.head_dim),
                out.begin() + bshd(b + 1, 0, 0, 0, s.tokens, s.heads, s.head_dim), 0.0f);
  const TileJob job{p, opt, q, k, in, scale, out};
  parallel_for(s.batch * s.heads * q_tiles, opt.threads, [&](std::int64_t task) {
    const std::int64_t t = task % q_tiles, bh = task / q_tiles;
    const std::int64_t i0 = t * Tq;
    job.run(bh / s.heads, bh % s.heads, i0, std::min(i0 + Tq, s.tokens));
  });
  finish_output(r, out);
}

}  // namespace attn
