// The legitimate variants (kernels/variants.hpp). Each is a correct attention; they differ from
// the tiled kernel only in where they round and in what order they sum:
//   eager        the naive reference itself (kernels/naive.cpp): every op rounded to the recipe's
//                eager dtype, as PyTorch's eager gpt-oss sdpa on bf16 tensors
//   scores_lowp  S = scale·QKᵀ rounded once to the eager dtype (bf16 for bf16-mixed and fp8, fp16 for
//                fp16-mixed, fp32 otherwise), sink concatenated as a score of that dtype, then a
//                two-pass fp32 softmax and fp32 P·V with P unrounded; output rounded
//   exp2         the tiled kernel with exp2 and log2(e) folded into the scale (FA2, NKI)
//   tiles:QxKV   the tiled kernel at other tile sizes (not a copy: kernels/tiled.cpp with other tiles)
//   split_kv     flash-decoding: keys in chunks of kSplitKvChunk, per chunk (m, l, acc) in fp32 with
//                P rounded to the recipe's probs dtype, chunks combined by the log-sum-exp rule
//                O = Σ_c e^(m_c - M)·acc_c / (Σ_c e^(m_c - M)·l_c + e^(sink - M)), M = max(sink, m_c)
//   per_key      ggml's CPU flash-attention order: per row the keys one at a time in ascending order,
//                an online softmax whose running max starts at -inf (not at the sink), the sink
//                joined at the end as one more score with no V row, O = acc / l
// scores_lowp and split_kv read the inputs as stored values (int8 and fp8: dequantised floats),
// compute dot products in fp32 with 8 partial sums, and give rows that see no key exactly 0 (SPEC §2).
// A finite mask_value enters as the score of every masked key, as in the naive reference.
// Under a recipe with narrow internals (scores, acc_pv, acc_rowsum), exp2 and tiles:* honour them
// (they are the tiled kernel), and so does per_key, with its own order of roundings: every key's
// rescale and update of the P·V accumulator rounded to acc_pv, each computed in fp32 with no fma
// (the precision fingerprint runs it to reproduce a kernel's accumulator noise error for error);
// eager, scores_lowp and split_kv run every recipe but keep their own fp32 accumulators, as the
// computations they model do (split_kv rounds P to the recipe's probs).
#include "kernels/variants.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/blocks.hpp"
#include "kernels/fast_math.hpp"
#include "kernels/naive.hpp"
#include "src/base/parallel.hpp"

namespace attn {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr std::int64_t kRowChunk = 32;  // query rows per task

ATTN_INLINE float dot(const float* a, const float* b, std::int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[d + l] * b[d + l];
  for (int l = 0; d < n; ++d, ++l) s[l] += a[d] * b[d];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// The key range a row's scores cover (row_scores): the visible run, or every key when a finite
// mask value gives the masked ones a score too; empty when the row sees no key.
struct RowScores {
  std::int64_t first = 0, last = 0;
};

template <class Body>
void for_rows(const Problem& p, int threads, Body body) {
  const Shape& s = p.shape;
  const std::int64_t chunks = (s.tokens + kRowChunk - 1) / kRowChunk;
  parallel_for(s.batch * s.heads * chunks, threads, [&](std::int64_t task) {
    const std::int64_t c = task % chunks, bh = task / chunks;
    for (std::int64_t i = c * kRowChunk; i < std::min((c + 1) * kRowChunk, s.tokens); ++i)
      body(bh / s.heads, bh % s.heads, i);
  });
}

// Fills x[j - first] with scale·<q_i, k_j> for visible keys and `mask` for the others of [first,
// last); returns the scored range, empty when the row sees no key.
RowScores row_scores(const Problem& p, const Inputs& in, std::int64_t b, std::int64_t h, std::int64_t i, float mask,
                     std::vector<float>& x) {
  const Shape& s = p.shape;
  const auto keys = p.visible_keys(i);
  if (keys.empty()) return {};
  const bool finite = std::isfinite(mask);
  const RowScores r{finite ? 0 : keys.lo, finite ? s.kv_tokens : keys.hi};
  x.resize(std::size_t(r.last - r.first));
  const float scale = static_cast<float>(p.scale);
  const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, s.head_dim)];
  const std::int64_t g = h / s.q_mult();
  for (std::int64_t j = r.first; j < r.last; ++j)
    x[j - r.first] = j >= keys.lo && j < keys.hi
                         ? scale * dot(q, &in.k[bshd(b, j, g, 0, s.kv_tokens, s.kv_heads, s.head_dim)], s.head_dim)
                         : mask;
  return r;
}

float* out_row(const Problem& p, std::span<float> out, std::int64_t b, std::int64_t h, std::int64_t i) {
  const Shape& s = p.shape;
  return &out[bshd(b, i, h, 0, s.tokens, s.heads, s.head_dim)];
}

const float* v_row(const Problem& p, const Inputs& in, std::int64_t b, std::int64_t j, std::int64_t h) {
  const Shape& s = p.shape;
  return &in.v[bshd(b, j, h / s.q_mult(), 0, s.kv_tokens, s.kv_heads, s.head_dim)];
}

void scores_lowp(const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes&, std::span<float> out,
                 int threads) {
  const DType t = recipe.eager;
  const std::int64_t D = p.shape.head_dim;
  for_rows(p, threads, [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    thread_local std::vector<float> x, acc;
    float* o = out_row(p, out, b, h, i);
    const RowScores r = row_scores(p, in, b, h, i, recipe.mask_value, x);
    if (r.first >= r.last) return std::fill(o, o + D, 0.0f);
    const std::int64_t n = r.last - r.first;
    for (float& v : x) v = round_to(t, v);
    const float sink = p.has_sinks ? round_to(t, in.sinks[h]) : -kInf;
    float m = sink;
    for (std::int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
    float l = p.has_sinks ? fast_exp(sink - m) : 0.0f;
    for (std::int64_t j = 0; j < n; ++j) l += x[j] = fast_exp(x[j] - m);
    acc.assign(std::size_t(D), 0.0f);
    for (std::int64_t j = 0; j < n; ++j) {
      const float w = x[j] / l;
      const float* v = v_row(p, in, b, r.first + j, h);
      for (std::int64_t d = 0; d < D; ++d) acc[d] += w * v[d];
    }
    std::copy(acc.begin(), acc.end(), o);
  });
  finish_output(recipe, out);
}

void split_kv(const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes&, std::span<float> out,
              int threads) {
  const std::int64_t D = p.shape.head_dim;
  for_rows(p, threads, [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    thread_local std::vector<float> x, acc, cm, cl, cacc;
    float* o = out_row(p, out, b, h, i);
    const RowScores r = row_scores(p, in, b, h, i, recipe.mask_value, x);
    if (r.first >= r.last) return std::fill(o, o + D, 0.0f);
    // Chunks are aligned to absolute key positions, as a decode kernel splits its KV cache.
    const std::int64_t c0 = r.first / kSplitKvChunk, c1 = (r.last + kSplitKvChunk - 1) / kSplitKvChunk;
    const std::int64_t chunks = c1 - c0;
    cm.assign(std::size_t(chunks), -kInf), cl.assign(std::size_t(chunks), 0.0f);
    cacc.assign(std::size_t(chunks * D), 0.0f);
    for (std::int64_t c = 0; c < chunks; ++c) {  // each chunk on its own, as separate programs would
      const std::int64_t j0 = std::max(r.first, (c0 + c) * kSplitKvChunk);
      const std::int64_t j1 = std::min(r.last, (c0 + c + 1) * kSplitKvChunk);
      float m = -kInf;
      for (std::int64_t j = j0; j < j1; ++j) m = std::max(m, x[j - r.first]);
      if (m == -kInf) continue;  // only -inf scores: the chunk adds nothing
      float l = 0.0f;
      float* a = &cacc[c * D];
      for (std::int64_t j = j0; j < j1; ++j) {
        const float e = fast_exp(x[j - r.first] - m);
        l += e;
        const float w = round_to(recipe.probs, e);
        const float* v = v_row(p, in, b, j, h);
        for (std::int64_t d = 0; d < D; ++d) a[d] += w * v[d];
      }
      cm[c] = m, cl[c] = l;
    }
    const float sink = p.has_sinks ? in.sinks[h] : -kInf;
    float M = sink;
    for (float m : cm) M = std::max(M, m);
    float denom = p.has_sinks ? fast_exp(sink - M) : 0.0f;
    acc.assign(std::size_t(D), 0.0f);
    for (std::int64_t c = 0; c < chunks; ++c) {
      if (cm[c] == -kInf) continue;
      const float w = fast_exp(cm[c] - M);
      denom += w * cl[c];
      for (std::int64_t d = 0; d < D; ++d) acc[d] += w * cacc[c * D + d];
    }
    for (std::int64_t d = 0; d < D; ++d) o[d] = denom == 0.0f ? 0.0f : acc[d] / denom;
  });
  finish_output(recipe, out);
}

void per_key(const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes&, std::span<float> out,
             int threads) {
  const std::int64_t D = p.shape.head_dim;
  const float log2e = recipe.exp2 ? 1.4426950408889634f : 1.0f;
  auto ex = [&](float x) { return recipe.exp2 ? std::exp2(x) : std::exp(x); };
  auto ra = [&](float x) { return round_to(recipe.acc_pv, x); };
  for_rows(p, threads, [&](std::int64_t b, std::int64_t h, std::int64_t i) {
    thread_local std::vector<float> x, acc;
    float* o = out_row(p, out, b, h, i);
    const RowScores r = row_scores(p, in, b, h, i, recipe.mask_value, x);
    if (r.first >= r.last) return std::fill(o, o + D, 0.0f);
    acc.assign(std::size_t(D), 0.0f);
    float m = -kInf, l = 0.0f;
    for (std::int64_t j = r.first; j < r.last; ++j) {
      const float s = round_to(recipe.scores, log2e * x[j - r.first]);
      if (s == -kInf) continue;  // a -inf score adds nothing (and -inf - -inf is no number)
      float alpha = 1.0f, e = 1.0f;
      if (s > m) {
        alpha = ex(m - s);
        m = s;
        for (float& a : acc) a = ra(a * alpha);
      } else {
        e = ex(s - m);
      }
      const float w = round_to(recipe.probs, e);
      const float* v = v_row(p, in, b, j, h);
      for (std::int64_t d = 0; d < D; ++d) acc[d] = ra(acc[d] + w * v[d]);  // no fma: -ffp-contract=off
      l = round_to(recipe.acc_rowsum, l * alpha + e);
    }
    if (p.has_sinks) {
      const float sink = log2e * in.sinks[h];
      if (sink > m) {
        const float alpha = ex(m - sink);
        for (float& a : acc) a *= alpha;
        l = l * alpha + 1.0f;
      } else {
        l += ex(sink - m);
      }
    }
    for (std::int64_t d = 0; d < D; ++d) o[d] = l > 0.0f ? acc[d] / l : 0.0f;
  });
  finish_output(recipe, out);
}

VariantKernel tiled_with(TileSizes tiles) {
  return [tiles](const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes&, std::span<float> out,
                 int threads) { tiled_attention(p, in, {.recipe = recipe, .tiles = tiles, .threads = threads}, out); };
}

}  // namespace

const std::vector<VariantInfo>& variants() {
  static const std::vector<VariantInfo> table = {
      {"eager", "PyTorch's eager sdpa: every op rounded to the recipe's eager dtype (the naive reference itself)", {}, "",
       [](const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes&, std::span<float> out,
          int threads) { naive_attention(p, in, recipe, out, threads); }},
      {"scores_lowp", "scale·QKᵀ rounded to the eager dtype, then an fp32 softmax and fp32 P·V (P unrounded)", {}, "",
       scores_lowp},
      {"exp2", "the tiled kernel with exp2 and log2(e) folded into the scale (FA2, NKI)", {}, "",
       [](const Problem& p, const Inputs& in, const Recipe& recipe, const TileSizes& tiles, std::span<float> out,
          int threads) {
         Recipe r = recipe;
         r.exp2 = true;
         tiled_attention(p, in, {.recipe = r, .tiles = tiles, .threads = threads}, out);
       }},
      {"tiles:16x16", "the tiled kernel with 16 x 16 tiles", {}, "", tiled_with({16, 16})},
      {"tiles:64x32", "the tiled kernel with 64 x 32 tiles", {}, "", tiled_with({64, 32})},
      {"tiles:256x512", "the tiled kernel with 256 x 512 tiles", {}, "", tiled_with({256, 512})},
      {"split_kv", "flash-decoding: 64-key chunks, per-chunk (m, l, acc) in fp32, combined by log-sum-exp", {}, "",
       split_kv},
      {"per_key", "ggml's CPU order: keys one at a time, the max from -inf, the sink last; the recipe's roundings after every key",
       {}, "", per_key},
  };
  return table;
}

const VariantInfo* find_variant(const std::string& name) {
  for (const VariantInfo& v : variants())
    if (v.name == name) return &v;
  return nullptr;
}

std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const VariantInfo& v : variants()) names.push_back(v.name);
  return names;
}

std::string variant_unsupported(const VariantInfo& v, const Recipe& recipe) {
  for (const std::string& r : v.unsupported_recipes)
    if (r == recipe.name) return v.name + " cannot run the " + r + " recipe: " + v.unsupported_why;
  return "";
}

}  // namespace attn
