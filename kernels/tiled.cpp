// The tiled kernel: per (batch, query head, query tile) an online softmax over KV tiles, written
// the way NKI and FlashAttention-2 kernels are, with the recipe's rounding at each point. Per row
// and KV tile, every value carried in fp32 and rounded (round-to-nearest-even) where it says so:
//   S = rs(scale·Q_t·K_tᵀ)          the dot an fp32 fma chain over d, times the scale, then rounded
//   m' = max(m, rowmax S)           alpha = exp(m - m')
//   acc = ra(acc·alpha)             the rescale, rounded
//   P = exp(S - m')                 rowsum = rl(rowsum P) of the unrounded P
//   l = rl(l·alpha + rowsum)        a product and a sum (no fma), then rounded
//   acc = ra(fma(rp(P_j), V_j, acc)) for each key j ascending, rounded after every key
//   O = ro(acc / (l + exp(sink - m)))  the final normaliser in fp32
// with rs, rp, ra, rl, ro the roundings to the recipe's scores, probs, acc_pv, acc_rowsum and output
// formats (identities for fp32; acc_pv in fp16 is how ggml's CPU flash attention accumulates V).
// m starts at the sink logit (or -inf), which is not rounded to the scores format: it is an input
// in its own (sinks) format. With a -inf mask, masked entries are excluded; with a finite
// mask_value they enter the tile as that score (rounded to the scores format: a mask past fp16's
// range becomes -inf and excludes the keys it masks), as in the gpt-oss Triton kernel. A KV tile
// with no visible key for any row of the Q tile is skipped, and a row skips a tile it has no key
// of. int8 inputs multiply integer codes exactly (an fp32 sum of products of |code| <= 127 is exact
// while 127²·D < 2^24, i.e. D <= 1040). Inputs arrive rounded or dequantised (quantize_inputs,
// per-head fp8 scales included), so Q, K and V need no rounding here.
// exp is kernels/fast_math.hpp's; the summation orders are those of kernels/blocks.hpp.
// Asked for it, the same pass also writes each row's LSE, m + log(l + exp(sink - m)) from the final
// fp32 m and l (the backward's input, SPEC §10); that adds one branch per row and changes no output.
//
// The acc_pv format is a template parameter, so the fp32 loops carry no rounding at all; the other
// points are rounded once per row and tile behind a branch.
//
// Inside a (Q tile, KV tile) pair the rows go in blocks of kRows through the register-blocked
// products of blocks.hpp, over the union of the block's key ranges; keys a row does not see get
// probability 0 there, which changes none of its sums.
//
// Each mutant is this kernel with one Fault switched on; every fault is tested where its branch
// sits, so the correct path (Fault::none) only pays for a few predictable branches per tile row.
#include "kernels/tiled.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "kernels/blocks.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"

namespace attn {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kInf = std::numeric_limits<float>::infinity();
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;

struct TileJob {
  const Problem& p;
  const TiledOptions& opt;
  const float* q;  // Q values (int8: integer codes)
  const Packed& kv;  // K values (int8: integer codes) and V, packed
  const Inputs& in;
  float qk_scale;  // multiplies the raw dot product: scale (·log2 e with exp2) (·q_scale·k_scale for int8)
  std::span<float> out;
  std::span<float> lse;  // [B][H][Sq], or empty: the forward alone
  bool round_rescale;  // acc·alpha rounded to the acc_pv format (the recipe's; not the acc_bf16 mutant's)

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
};

// The running state of one Q tile: per row m, l, the last tile's own max, whether any key was seen,
// and the accumulator (rows padded to a multiple of kRows, each dpad wide).
struct TileState {
  std::vector<float> m, l, tile_max, acc;
  std::vector<char> seen;
};

// The score, max, exp and row-sum step of one row over one block span; writes the row's rounded
// probabilities to prow (0 where the row sees no key) and updates its state. Acc: the format the
// P·V accumulator is kept in.
template <bool Exp2, DType Acc>
ATTN_INLINE void softmax_row(const TileJob& job, TileState& st, std::int64_t row, const float* dots, float* prow,
                             std::int64_t g0, std::int64_t g1, std::int64_t a, std::int64_t e, std::int64_t first,
                             std::int64_t last, float mask) {
  auto ex = [](float x) { return Exp2 ? fast_exp2(x) : fast_exp(x); };
  const Recipe& r = job.opt.recipe;
  const std::int64_t n = g1 - g0;
  const float qs = job.qk_scale;
  const bool saturate = job.is(Fault::int8_saturation);
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t key = g0 + j;
    const float dot = saturate ? std::clamp(dots[j], -128.0f, 127.0f) : dots[j];
    prow[j] = key >= a && key < e ? qs * dot : (key >= first && key < last ? mask : -kInf);
  }
  round_span(r.scores, prow, n);  // the mask value is already in the scores format
  const float local = row_max(prow, n);
  const float mx = std::max(st.m[row], local);
  const float alpha = job.is(Fault::no_rescale) ? 1.0f : ex(st.m[row] - mx);  // 0 on the first tile
  const std::int64_t dpad = job.kv.dpad;
  float* racc = &st.acc[row * dpad];
  if constexpr (Acc != DType::f32) {
    if (job.round_rescale) {
      for (std::int64_t d = 0; d < dpad; ++d) racc[d] = round_fast<Acc>(racc[d] * alpha);
    } else {
      for (std::int64_t d = 0; d < dpad; ++d) racc[d] *= alpha;
    }
  } else {
    for (std::int64_t d = 0; d < dpad; ++d) racc[d] *= alpha;
  }
  for (std::int64_t j = 0; j < n; ++j) prow[j] = ex(prow[j] - mx);
  const float rowsum = row_sum(prow, n);
  round_span(r.probs, prow, n);
  if (r.acc_rowsum == DType::f32) st.l[row] = st.l[row] * alpha + rowsum;
  else st.l[row] = round_to(r.acc_rowsum, st.l[row] * alpha + round_to(r.acc_rowsum, rowsum));
  st.m[row] = mx;
  st.tile_max[row] = local;
  st.seen[row] |= a < e;
}

// One (batch, head, Q tile [i0, i1)) task. Acc: the format the P·V accumulator is kept in.
template <bool Exp2, DType Acc>
ATTN_CLONES void run_q_tile(const TileJob& job, std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) {
  const Problem& p = job.p;
  const Shape& s = p.shape;
  const TiledOptions& opt = job.opt;
  const std::int64_t D = s.head_dim, rows = i1 - i0, dpad = job.kv.dpad;
  const std::int64_t padded_rows = (rows + kRows - 1) / kRows * kRows;
  const std::int64_t kvh = job.is(Fault::gqa_interleaved) ? h % s.kv_heads : h / s.q_mult();
  const std::int64_t bg = b * s.kv_heads + kvh;
  const bool sinks = p.has_sinks && !job.is(Fault::no_sinks);
  const float log_unit = Exp2 ? kLog2e : 1.0f;  // with exp2, S, m and the sink live in log2 units
  const float sink = sinks ? job.in.sinks[h] * log_unit : -kInf;
  const float mask = round_to(opt.recipe.scores, job.is(Fault::finite_mask_leak) ? round_bf16(-1e4f) : opt.recipe.mask_value);
  const bool finite_mask = std::isfinite(mask);
  auto ex = [](float x) { return Exp2 ? fast_exp2(x) : fast_exp(x); };

  // Scratch reused by every task of a thread: allocating it per task costs more than a small task.
  thread_local TileState st;
  thread_local std::vector<float> dots, probs;
  thread_local std::vector<Problem::KeyRange> kr;
  const std::int64_t T = opt.tiles.kv;
  const std::int64_t span_max = (std::min(T, s.kv_tokens) + 2 * kKeyBlock) / kKeyBlock * kKeyBlock;
  st.m.assign(rows, sink), st.l.assign(rows, 0.0f), st.tile_max.assign(rows, -kInf);
  st.acc.assign(padded_rows * dpad, 0.0f), st.seen.assign(rows, 0);
  dots.resize(kRows * span_max), probs.resize(kRows * span_max), kr.resize(rows);
  poison(std::span(dots)), poison(std::span(probs));  // scratch: written before it is read
  std::int64_t lo_all = s.kv_tokens, hi_all = 0;
  for (std::int64_t i = i0; i < i1; ++i) {
    kr[i - i0] = job.keys(i);
    if (!kr[i - i0].empty()) lo_all = std::min(lo_all, kr[i - i0].lo), hi_all = std::max(hi_all, kr[i - i0].hi);
  }
  const std::int64_t kv_tiles = job.is(Fault::kv_tail_dropped) ? std::max<std::int64_t>(1, s.kv_tokens / T)
                                                                : (s.kv_tokens + T - 1) / T;
  const std::int64_t skip_margin = job.is(Fault::tile_skip_off_by_one) ? 1 : 0;
  const float* qrows[kRows];
  for (std::int64_t t = 0; t < kv_tiles; ++t) {
    const std::int64_t j0 = t * T, j1 = std::min(j0 + T, s.kv_tokens);
    if (j1 <= lo_all + skip_margin || j0 >= hi_all - skip_margin) continue;  // fully masked: skipped
    for (std::int64_t r0 = 0; r0 < rows; r0 += kRows) {
      // Each row's visible run [a, e) of the tile and the run [first, last) it scores: with a -inf
      // mask only the visible run, with a finite mask the whole tile, masked keys included.
      std::int64_t a[kRows], e[kRows], first[kRows], last[kRows];
      Span span;
      for (int r = 0; r < kRows; ++r) {
        const std::int64_t row = std::min(r0 + r, rows - 1);
        a[r] = std::max(j0, kr[row].lo), e[r] = std::min(j1, kr[row].hi);
        first[r] = finite_mask ? j0 : a[r], last[r] = finite_mask ? j1 : e[r];
        if (r0 + r >= rows) first[r] = last[r] = 0;  // a padding row
        span.add(first[r], last[r]);
        qrows[r] = &job.q[bshd(b, i0 + row, h, 0, s.tokens, s.heads, D)];
      }
      if (span.empty()) continue;
      const Span g = span.aligned(kKeyBlock);
      const std::int64_t n = g.hi - g.lo;
      qk_block<float, kRows, kKeyBlock>(qrows, job.kv.key_block(bg, 0), D, g.lo, g.hi, dots.data(), n);
      for (int r = 0; r < kRows; ++r) {
        float* prow = &probs[r * n];
        if (first[r] >= last[r]) {
          std::fill(prow, prow + n, 0.0f);
          continue;
        }
        softmax_row<Exp2, Acc>(job, st, r0 + r, &dots[r * n], prow, g.lo, g.hi, a[r], e[r], first[r], last[r], mask);
      }
      const float* vrows = job.kv.value_row(bg, 0);
      float* acc = &st.acc[r0 * dpad];
      pv_block<float, kRows, kDimBlock, Acc>(probs.data(), n, vrows, dpad, g.lo, g.hi, acc);
    }
  }
  for (std::int64_t row = 0; row < rows; ++row) {
    float* o = &job.out[bshd(b, i0 + row, h, 0, s.tokens, s.heads, D)];
    float sink_term = 0.0f;
    if (sinks) {
      const float ref = job.is(Fault::sink_not_in_max) ? 0.0f
                        : job.is(Fault::stale_max)      ? st.tile_max[row]
                                                        : st.m[row];
      sink_term = ex(sink - ref);
    }
    const float denom = st.l[row] + sink_term;
    const bool empty = !st.seen[row] && !job.is(Fault::finite_mask_leak);  // a row with no key is exactly 0
    const float* racc = &st.acc[row * dpad];
    for (std::int64_t d = 0; d < D; ++d) o[d] = empty || denom == 0.0f ? 0.0f : racc[d] / denom;
    if (!job.lse.empty()) {
      // The log in float64 of the fp32 m and denominator, rounded once: the LSE is as exact as the
      // statistics it comes from (std::log's last bit then hardly ever reaches the float).
      float& lse = job.lse[(b * s.heads + h) * s.tokens + i0 + row];
      if (empty) lse = sinks ? job.in.sinks[h] : -kInf;
      else if (Exp2) lse = static_cast<float>((double(st.m[row]) + std::log2(double(denom))) * std::numbers::ln2);
      else lse = static_cast<float>(double(st.m[row]) + std::log(double(denom)));
    }
  }
}

template <bool Exp2>
void run_task(const TileJob& job, DType acc, std::int64_t b, std::int64_t h, std::int64_t i0, std::int64_t i1) {
  switch (acc) {
    case DType::bf16: return run_q_tile<Exp2, DType::bf16>(job, b, h, i0, i1);
    case DType::f16: return run_q_tile<Exp2, DType::f16>(job, b, h, i0, i1);
    default: return run_q_tile<Exp2, DType::f32>(job, b, h, i0, i1);
  }
}

}  // namespace

void finish_output(const Recipe& r, std::span<float> out) {
  if (r.output != DType::bf16) return quantize_all(r.output, out, nullptr);
  for (float& x : out) x = std::isfinite(x) ? round_bf16_finite(x) : round_bf16(x);  // what quantize_all does
}

void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out) {
  tiled_attention(p, in, opt, out, {});
}

void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out,
                     std::span<float> lse) {
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
  if (r.q == DType::int8) {  // check_recipe: q and k are int8 together
    q_codes.resize(in.q.size());
    k_codes.resize(in.k.size());
    for (std::size_t n = 0; n < in.q.size(); ++n) q_codes[n] = std::nearbyint(in.q[n] / in.q_scale);
    for (std::size_t n = 0; n < in.k.size(); ++n) k_codes[n] = std::nearbyint(in.k[n] / in.k_scale);
    q = q_codes.data();
    k = k_codes.data();
    scale *= in.q_scale * in.k_scale;
  }
  const Packed kv(s, k, in.v.data(), opt.threads);
  k_codes = {};

  const std::int64_t Tq = opt.tiles.q;
  const std::int64_t q_tiles = opt.fault == Fault::q_tail_dropped ? std::max<std::int64_t>(1, s.tokens / Tq)
                                                                  : (s.tokens + Tq - 1) / Tq;
  if (q_tiles * Tq < s.tokens)  // rows the q_tail_dropped mutant never computes stay 0
    for (std::int64_t b = 0; b < s.batch; ++b)
      std::fill(out.begin() + bshd(b, q_tiles * Tq, 0, 0, s.tokens, s.heads, s.head_dim),
                out.begin() + bshd(b + 1, 0, 0, 0, s.tokens, s.heads, s.head_dim), 0.0f);
  if (q_tiles * Tq < s.tokens && !lse.empty())  // and so does their LSE
    for (std::int64_t bh = 0; bh < s.batch * s.heads; ++bh)
      std::fill(lse.begin() + bh * s.tokens + q_tiles * Tq, lse.begin() + (bh + 1) * s.tokens, 0.0f);
  // The accumulator's format: the recipe's, else bf16 for the acc_bf16 mutant (which rounds after
  // every key's fma but not the rescale; mutant_unsupported keeps it to fp32 accumulators).
  const DType acc = r.acc_pv != DType::f32 ? r.acc_pv : opt.fault == Fault::acc_bf16 ? DType::bf16 : DType::f32;
  const TileJob job{p, opt, q, kv, in, scale, out, lse, r.acc_pv != DType::f32};
  parallel_for(s.batch * s.heads * q_tiles, opt.threads, [&](std::int64_t task) {
    const std::int64_t t = task % q_tiles, bh = task / q_tiles;
    const std::int64_t i0 = t * Tq, i1 = std::min(i0 + Tq, s.tokens);
    if (r.exp2) run_task<true>(job, acc, bh / s.heads, bh % s.heads, i0, i1);
    else run_task<false>(job, acc, bh / s.heads, bh % s.heads, i0, i1);
  });
  finish_output(r, out);
}

}  // namespace attn
