// The tiled backward: FlashAttention-2's backward pass (SPEC §10), written the way its CUDA kernel
// is, with the recipe's rounding points. One task per (batch, KV head, KV tile [j0, j1)); it owns
// dK and dV of its keys and goes over the query tiles of every query head of the group, recomputing
// P from the forward's saved LSE. Per query row i of head h and key j of the tile, in fp32:
//   S = rs(scale·q_i·k_j)           as the forward: an fma chain over d, times the scale, rounded
//   P = exp(S - lse_i)              exp2 and log2 units with the exp2 option, as the forward
//   dP = do_i·v_j                   an fma chain over d
//   dS = P (dP - D_i)               from the unrounded P; D_i = do_i·o_i (fma chain over d, once per row)
//   dV_j += rp(P) do_i,  dK_j += rp(dS) q_i,  dQ_i += rp(dS) k_j   fp32 accumulators
//   dK = rg(scale·dK), dV = rg(dV), dQ = rg(scale·dQ)
// rs: the scores format, rp: the probs format (bf16-mixed: bf16), rg: the output format when it is
// a float format (fp32, bf16, fp16); an int8 output is a quantised activation, not a gradient
// format, so int8 recipes keep fp32 gradients. fp8 and int8 inputs arrive dequantised
// (quantize_inputs): their backward runs on those values with fp32 internals throughout (P and dS
// not rounded to e4m3; no integer QKᵀ), gradients in the output format (fp8-e4m3: bf16).
// Masking as the forward: with a -inf mask masked keys are excluded; with a finite mask_value a
// (query tile, KV tile) pair the forward did not skip scores its masked keys as that value, so they
// enter dV with P = exp(mask - lse) (as they entered the forward's P·V) but get dS = 0 (a constant
// score has no gradient). A row with no visible key contributes nothing.
//
// Summation orders (part of the definition, so results are the same bits for every thread count):
//   dK_j, dV_j: over the query heads of the group ascending, then query rows ascending
//   dQ_i: per KV tile t over its keys ascending into a buffer of its own, then the buffers summed
//         over t ascending (FlashAttention-2's deterministic mode keeps dq_accum per split the same
//         way). KV tiles run in parallel, so one shared dQ accumulator would make the order, and the
//         bits, depend on the schedule. The cost is kv_tiles × |Q| floats; the alternative, a second
//         pass over query tiles for dQ, would recompute QKᵀ and dO·Vᵀ (7 products instead of 5).
//   dsinks[h] = -sum over b, then i ascending, of exp(sink_h - lse_i)·D_i, summed in float64 and
//         rounded once to fp32 (B·Sq terms with cancelling signs: an fp32 sum would lose digits).
// Inside a task the keys go in chunks of kChunk and the rows in blocks of kRows through
// blocks.hpp's products; keys outside a row's run enter with P = dS = 0, which changes no sum.
//
// A backward mutant is this kernel with one bwd_* Fault switched on (kernels/fault.hpp), tested
// where its branch sits: per row or per task, never per element.
#include "kernels/backward.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/blocks.hpp"
#include "src/base/parallel.hpp"

namespace attn {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::int64_t kChunk = 64;  // keys per inner chunk: a multiple of kKeyBlock
using Packed = PackedKV<float, kKeyBlock, kDimBlock>;

struct BwdJob {
  const Problem& p;
  const TiledOptions& opt;
  const Packed& kv;  // K in key blocks (S = Q Kᵀ); its V rows are unused
  const Packed& vk;  // V in key blocks (dP = dO Vᵀ), K as rows (dQ += dS K)
  const float* q;    // Q as [B][H][Sq][dpad], zero padded
  const float* dout;  // dO as [B][H][Sq][dpad], zero padded
  const float* lse;   // [B][H][Sq], in the exp's units (log2 with exp2)
  const float* delta;  // D_i = do_i·o_i, [B][H][Sq]
  const std::vector<Problem::KeyRange>& keys;  // visible keys of each query row
  float qk_scale;      // scale (·log2 e with exp2)
  float mask;          // the mask value in the scores format
  bool round_internals;  // P and dS rounded to the probs format, S to the scores format
  DType grad;          // the gradients' format
  float* dq_parts;     // [kv tiles][B][H][Sq][dpad]
  float* dk;           // [B][Sk][Hkv][D]
  float* dv;

  bool is(Fault f) const { return opt.fault == f; }
  std::int64_t row(std::int64_t b, std::int64_t h, std::int64_t i) const {
    return (b * p.shape.heads + h) * p.shape.tokens + i;
  }
};

template <bool Exp2>
ATTN_INLINE float ex(float x) {
  if constexpr (Exp2) return fast_exp2(x);
  else return fast_exp(x);
}

// A gradient rounded to its format (as round_to, without its call and switch per element).
ATTN_INLINE float round_grad(DType t, float x) {
  if (t == DType::bf16) return std::isfinite(x) ? round_bf16_finite(x) : round_bf16(x);
  if (t == DType::f16) return std::isfinite(x) ? round_f16_finite(x) : round_f16(x);
  return x;
}

// S or dP of one block of kRows consecutive rows (ld apart) over [j0, j1): out of line, so that its
// registers are its own (inlined into run_kv_tile, GCC kept the row offsets on the stack and
// reloaded one per broadcast).
ATTN_CLONES __attribute__((noinline)) void dots_block(const float* q, std::int64_t ld, const float* kb, std::int64_t D,
                                                      std::int64_t j0, std::int64_t j1, float* s, std::int64_t lds) {
  qk_block_rows<float, kRows, kKeyBlock>(q, ld, kb, D, j0, j1, s, lds);
}

// Task (b, kv head g, KV tile t). Exp2: the forward's exp2 option.
template <bool Exp2>
ATTN_CLONES void run_kv_tile(const BwdJob& job, std::int64_t b, std::int64_t g, std::int64_t t) {
  const Shape& s = job.p.shape;
  const Recipe& r = job.opt.recipe;
  const std::int64_t D = s.head_dim, dpad = job.kv.dpad, Sq = s.tokens;
  const std::int64_t T = job.opt.tiles.kv, Tq = job.opt.tiles.q;
  const std::int64_t j0 = t * T, j1 = std::min(j0 + T, s.kv_tokens);
  const std::int64_t bg = b * s.kv_heads + g;
  const bool finite_mask = std::isfinite(job.mask);
  const std::int64_t q_tiles = (Sq + Tq - 1) / Tq;
  const Span tile = Span{j0, j1}.aligned(kKeyBlock);

  // Which query tiles the forward ran against this KV tile: those with a visible key in it.
  std::vector<char> q_tile_live(q_tiles);
  for (std::int64_t qt = 0; qt < q_tiles; ++qt) {
    Span u;
    for (std::int64_t i = qt * Tq; i < std::min(Sq, (qt + 1) * Tq); ++i) u.add(job.keys[i].lo, job.keys[i].hi);
    q_tile_live[qt] = !u.empty() && u.lo < j1 && u.hi > j0;
  }

  std::vector<float> dk_acc(kChunk * dpad), dv_acc(kChunk * dpad), dots(kRows * kChunk), dpdots(kRows * kChunk);
  // P and dS of one query tile × one chunk, [row][key], rows padded to a multiple of kRows
  const std::int64_t tile_rows = (std::min(Tq, Sq) + kRows - 1) / kRows * kRows;
  std::vector<float> probs(tile_rows * kChunk), dscores(tile_rows * kChunk), acc8(kRows * dpad);
  float* dq_part = job.dq_parts + t * s.batch * s.heads * Sq * dpad;
  for (std::int64_t c0 = tile.lo; c0 < tile.hi; c0 += kChunk) {
    const std::int64_t c1 = std::min(c0 + kChunk, tile.hi), nc = c1 - c0;
    const std::int64_t k0 = std::max(c0, j0), k1 = std::min(c1, j1);  // the chunk's keys of this tile
    std::fill(dk_acc.begin(), dk_acc.end(), 0.0f);
    std::fill(dv_acc.begin(), dv_acc.end(), 0.0f);
    for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h) {
      for (std::int64_t qt = 0; qt < q_tiles; ++qt) {
        if (!q_tile_live[qt]) continue;
        const std::int64_t i0 = qt * Tq, i1 = std::min(Sq, i0 + Tq), rows = i1 - i0;
        bool any = false;
        for (std::int64_t r0 = 0; r0 < rows && !any; ++r0) {
          const auto& kr = job.keys[i0 + r0];
          any = !kr.empty() && (finite_mask || (kr.lo < k1 && kr.hi > k0));
        }
        if (!any) continue;  // no row of the query tile scores a key of this chunk
        std::int64_t rlo = rows, rhi = 0;  // the rows that score a key of the chunk lie in [rlo, rhi)
        for (std::int64_t r0 = 0; r0 < rows; r0 += kRows) {
          // Each row's visible run [a, e) of the chunk and the run [first, last) it scores (an
          // empty visible run is put at first, so that the masked keys are [first, a) ∪ [e, last)).
          std::int64_t a[kRows], e[kRows], first[kRows], last[kRows];
          bool block_any = false;
          for (int rr = 0; rr < kRows; ++rr) {
            const std::int64_t i = i0 + std::min(r0 + rr, rows - 1);
            const auto& kr = job.keys[i];
            a[rr] = std::max(k0, kr.lo), e[rr] = std::min(k1, kr.hi);
            first[rr] = finite_mask ? k0 : a[rr], last[rr] = finite_mask ? k1 : e[rr];
            if (r0 + rr >= rows || kr.empty()) first[rr] = last[rr] = 0;  // padding, or a row with no key
            if (a[rr] >= e[rr]) a[rr] = e[rr] = first[rr];
            block_any |= first[rr] < last[rr];
          }
          float* const pblock = &probs[r0 * nc];
          float* const dsblock = &dscores[r0 * nc];
          std::fill(pblock, pblock + kRows * nc, 0.0f);
          std::fill(dsblock, dsblock + kRows * nc, 0.0f);
          if (!block_any) continue;
          // The block's rows are consecutive in Q and dO; rows past the query tile read the rows after
          // it (the buffers have kRows spare rows at the end), and their results are not used.
          const std::int64_t first_row = job.row(b, h, i0 + r0) * dpad;
          dots_block(&job.q[first_row], dpad, job.kv.key_block(bg, 0), D, c0, c1, dots.data(), nc);
          dots_block(&job.dout[first_row], dpad, job.vk.key_block(bg, 0), D, c0, c1, dpdots.data(), nc);
          for (int rr = 0; rr < kRows; ++rr) {
            if (first[rr] >= last[rr]) continue;
            rlo = std::min(rlo, r0 + rr), rhi = r0 + rr + 1;
            const std::int64_t row = job.row(b, h, i0 + r0 + rr);
            const float lse = job.lse[row], delta = job.is(Fault::bwd_no_delta) ? 0.0f : job.delta[row];
            const float* dot = &dots[rr * nc];
            const float* dp = &dpdots[rr * nc];
            float* prow = &pblock[rr * nc];
            float* dsrow = &dsblock[rr * nc];
            const std::int64_t va = a[rr] - c0, ve = e[rr] - c0, fa = first[rr] - c0, fl = last[rr] - c0;
            for (std::int64_t j = va; j < ve; ++j) prow[j] = job.qk_scale * dot[j];
            if (job.round_internals) round_span(r.scores, prow + va, ve - va);
            for (std::int64_t j = va; j < ve; ++j) {
              const float pj = ex<Exp2>(prow[j] - lse);
              prow[j] = pj;
              dsrow[j] = pj * (dp[j] - delta);
            }
            if (finite_mask) {  // masked keys scored as the mask value: in P, not in dS
              const float pm = ex<Exp2>(job.mask - lse);
              for (std::int64_t j = fa; j < va; ++j) prow[j] = pm;
              for (std::int64_t j = ve; j < fl; ++j) prow[j] = pm;
            }
            if (job.round_internals) round_span(r.probs, prow + fa, fl - fa), round_span(r.probs, dsrow + va, ve - va);
          }
          // dQ_i += dS K over the chunk's keys, into this KV tile's own dQ buffer (rows of the
          // block past the query tile stay outside: they are another tile's).
          const std::int64_t nrows = std::min<std::int64_t>(kRows, rows - r0);
          float* dq_rows = &dq_part[job.row(b, h, i0 + r0) * dpad];
          std::copy(dq_rows, dq_rows + nrows * dpad, acc8.begin());
          pv_block<float, kRows, kDimBlock>(dsblock, nc, job.vk.value_row(bg, 0), dpad, c0, c1, acc8.data());
          std::copy(acc8.begin(), acc8.begin() + nrows * dpad, dq_rows);
        }
        // dV_j += P_ij do_i and dK_j += dS_ij q_i over the query tile's rows ascending, 8 keys at a
        // time (the rows outside [rlo, rhi) have P = dS = 0 for every key of the chunk).
        const float* do_tile = &job.dout[job.row(b, h, i0) * dpad];
        const float* q_tile = &job.q[job.row(b, h, i0) * dpad];
        const bool to_dkv = !(job.is(Fault::bwd_dkv_one_head) && h != g * s.q_mult());
        for (std::int64_t kb = 0; kb < nc && rlo < rhi && to_dkv; kb += kRows) {
          ptv_block<float, kRows, kDimBlock>(&probs[rlo * nc + kb], nc, do_tile, dpad, rlo, rhi, &dv_acc[kb * dpad]);
          ptv_block<float, kRows, kDimBlock>(&dscores[rlo * nc + kb], nc, q_tile, dpad, rlo, rhi, &dk_acc[kb * dpad]);
        }
      }
    }
    const float scale = static_cast<float>(job.p.scale);
    const bool dropped = job.is(Fault::bwd_kv_tail_dropped) && j1 - j0 < T;
    for (std::int64_t key = k0; key < k1 && !dropped; ++key) {
      float* dk = &job.dk[bshd(b, key, g, 0, s.kv_tokens, s.kv_heads, D)];
      float* dv = &job.dv[bshd(b, key, g, 0, s.kv_tokens, s.kv_heads, D)];
      for (std::int64_t d = 0; d < D; ++d) {
        dk[d] = round_grad(job.grad, scale * dk_acc[(key - c0) * dpad + d]);
        dv[d] = round_grad(job.grad, dv_acc[(key - c0) * dpad + d]);
      }
    }
  }
}

// The rows of one (b, h) the tasks read: Q and dO as [S][dpad] (zero padded), D_i = do_i·o_i
// (an fp32 fma chain over d) and the LSE in the exp's units.
ATTN_CLONES void prepare_rows(const Shape& s, std::int64_t bh, const Inputs& in, const float* out, const float* lse,
                              float log_unit, std::int64_t dpad, bool lse_no_sink, float* q, float* dout, float* delta,
                              float* lse_units) {
  const std::int64_t b = bh / s.heads, h = bh % s.heads, D = s.head_dim;
  for (std::int64_t i = 0; i < s.tokens; ++i) {
    const std::int64_t n = bshd(b, i, h, 0, s.tokens, s.heads, D), row = bh * s.tokens + i;
    float acc = 0.0f;
    for (std::int64_t d = 0; d < D; ++d) {
      q[row * dpad + d] = in.q[n + d];
      dout[row * dpad + d] = in.dout[n + d];
      acc = std::fma(in.dout[n + d], out[n + d], acc);
    }
    delta[row] = acc;
    lse_units[row] = lse[row] * log_unit;
    if (lse_no_sink) {  // the bwd_lse_no_sink mutant: log(exp(lse) - exp(sink))
      const double l = lse[row], sink = in.sinks[h];
      lse_units[row] = static_cast<float>((l + std::log1p(-std::exp(sink - l))) * log_unit);
    }
  }
}

// dQ of one (b, h) = rg(scale · sum over KV tiles ascending of each tile's buffer).
// last_tile: the bwd_dq_last_tile mutant's KV tile for each query row (its query tile's last), else empty.
ATTN_CLONES void finish_dq(const Shape& s, std::int64_t bh, const float* parts, std::int64_t kv_tiles,
                           std::int64_t dpad, float scale, DType grad, const std::vector<std::int64_t>& last_tile,
                           float* dq) {
  const std::int64_t b = bh / s.heads, h = bh % s.heads, D = s.head_dim;
  const std::int64_t part = s.batch * s.heads * s.tokens * dpad;
  for (std::int64_t i = 0; i < s.tokens; ++i) {
    float* o = &dq[bshd(b, i, h, 0, s.tokens, s.heads, D)];
    const float* x = &parts[(bh * s.tokens + i) * dpad];
    const std::int64_t t0 = last_tile.empty() ? 0 : last_tile[i], t1 = last_tile.empty() ? kv_tiles : t0 + 1;
    for (std::int64_t d = 0; d < D; ++d) {
      float sum = 0.0f;
      for (std::int64_t t = t0; t < std::min(t1, kv_tiles); ++t) sum += x[t * part + d];
      o[d] = round_grad(grad, scale * sum);
    }
  }
}

}  // namespace

void tiled_lse(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> lse) {
  std::vector<float> out(p.shape.q_elements());
  tiled_attention(p, in, opt, out, lse);
}

Gradients<float> tiled_backward(const Problem& p, const Inputs& in, std::span<const float> out,
                                std::span<const float> lse, const TiledOptions& opt) {
  const Shape& s = p.shape;
  const Recipe& r = opt.recipe;
  const std::int64_t Sq = s.tokens;
  const float log_unit = r.exp2 ? kLog2e : 1.0f;
  const bool scaled = r.scaled_input();
  const DType grad = r.output == DType::bf16 || r.output == DType::f16 ? r.output : DType::f32;

  const Packed kv(s, in.k.data(), in.v.data(), opt.threads);
  const Packed vk(s, in.v.data(), in.k.data(), opt.threads);
  const std::int64_t dpad = kv.dpad;
  Problem view = p;  // the visibility the backward applies (the bwd_ mask mutants' own)
  if (opt.fault == Fault::bwd_causal_ignored) view.causal = false;
  std::vector<Problem::KeyRange> keys(Sq);
  for (std::int64_t i = 0; i < Sq; ++i) {
    keys[i] = view.visible_keys(i);
    if (opt.fault == Fault::bwd_window_off_by_one && p.window > 0 && !keys[i].empty()) {
      keys[i].lo = std::max<std::int64_t>(0, keys[i].lo - 1);
      if (!view.causal) keys[i].hi = std::min(s.kv_tokens, keys[i].hi + 1);
    }
  }
  std::vector<float> q((s.batch * s.heads * Sq + kRows) * dpad, 0.0f), dout(q.size(), 0.0f);
  std::vector<float> delta(lse_elements(s)), lse_units(lse_elements(s));
  parallel_for(s.batch * s.heads, opt.threads, [&](std::int64_t bh) {
    prepare_rows(s, bh, in, out.data(), lse.data(), log_unit, dpad, p.has_sinks && opt.fault == Fault::bwd_lse_no_sink,
                 q.data(), dout.data(), delta.data(), lse_units.data());
  });

  Gradients<float> g;
  g.dq.resize(s.q_elements());  // every element written below
  g.dk.assign(s.kv_elements(), 0.0f);
  g.dv.assign(s.kv_elements(), 0.0f);
  const std::int64_t T = opt.tiles.kv, kv_tiles = (s.kv_tokens + T - 1) / T;
  std::vector<float> dq_parts(kv_tiles * s.batch * s.heads * Sq * dpad, 0.0f);
  float scale = static_cast<float>(p.scale) * log_unit;
  const float mask = round_to(r.scores, r.mask_value);
  const BwdJob job{p,     opt,   kv,   vk,           q.data(), dout.data(), lse_units.data(), delta.data(),
                   keys,  scale, mask, !scaled, grad, dq_parts.data(), g.dk.data(), g.dv.data()};
  parallel_for(s.batch * s.kv_heads * kv_tiles, opt.threads, [&](std::int64_t task) {
    const std::int64_t t = task % kv_tiles, bg = task / kv_tiles;
    if (r.exp2) run_kv_tile<true>(job, bg / s.kv_heads, bg % s.kv_heads, t);
    else run_kv_tile<false>(job, bg / s.kv_heads, bg % s.kv_heads, t);
  });

  std::vector<std::int64_t> last_tile;  // bwd_dq_last_tile: the last KV tile each query tile runs against
  if (opt.fault == Fault::bwd_dq_last_tile) {
    last_tile.assign(Sq, kv_tiles);
    for (std::int64_t i0 = 0; i0 < Sq; i0 += opt.tiles.q) {
      Span u;
      for (std::int64_t i = i0; i < std::min(Sq, i0 + opt.tiles.q); ++i) u.add(keys[i].lo, keys[i].hi);
      for (std::int64_t i = i0; i < std::min(Sq, i0 + opt.tiles.q); ++i) last_tile[i] = u.empty() ? kv_tiles : (u.hi - 1) / T;
    }
  }
  parallel_for(s.batch * s.heads, opt.threads, [&](std::int64_t bh) {
    finish_dq(s, bh, dq_parts.data(), kv_tiles, dpad, opt.fault == Fault::bwd_dq_no_scale ? 1.0f : float(p.scale),
              grad, last_tile, g.dq.data());
  });

  if (p.has_sinks) {
    g.dsinks.assign(s.heads, 0.0f);
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const float sink = in.sinks[h] * log_unit;
      double sum = 0.0;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t i = 0; i < Sq; ++i) {
          if (keys[i].empty()) continue;  // no visible key: no gradient
          const std::int64_t n = (b * s.heads + h) * Sq + i;
          const float p_sink = r.exp2 ? ex<true>(sink - lse_units[n]) : ex<false>(sink - lse_units[n]);
          sum += double(p_sink) * double(delta[n]);
        }
      g.dsinks[h] = opt.fault == Fault::bwd_dsinks_zero ? 0.0f : static_cast<float>(-sum);
    }
  }
  return g;
}

}  // namespace attn
