// The tiled kernel honours every rounding point of a recipe (scores, probs, acc_pv, acc_rowsum,
// output) bit for bit: an independent scalar reference below does, per row and KV tile, exactly the
// rounding kernels/tiled.cpp's file comment documents, in the summation order of kernels/blocks.hpp,
// and the kernel must give the same bits on shapes with partial tiles, GQA, sinks, windows and a
// decode offset. The reference rounds with src/suite/dtype.hpp's routines (not the kernels' fast
// ones), so it also pins those in context.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/fast_math.hpp"
#include "kernels/golden.hpp"
#include "kernels/mutants.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "src/suite/inputs.hpp"
#include "src/suite/recipe.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Recipe recipe(const std::string& text) {
  std::string err;
  const auto r = parse_recipe_text(text, &err);
  INFO(text << ": " << err);
  REQUIRE(r);
  return *r;
}

float rnd(DType t, float x) { return t == DType::f32 ? x : round_to(t, x); }

// One output row of the documented computation: Q tile rows [t0, t1) decide which KV tiles are
// skipped; the row goes over the others in key order.
// round_rescale false leaves acc·alpha unrounded, to show that the kernel does round it.
void reference_row(const Problem& p, const Inputs& in, const Recipe& r, TileSizes tiles, std::int64_t b,
                   std::int64_t h, std::int64_t i, float* o, bool round_rescale) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim, g = h / s.q_mult();
  const float log_unit = r.exp2 ? 1.4426950408889634f : 1.0f;
  auto ex = [&](float x) { return r.exp2 ? fast_exp2(x) : fast_exp(x); };
  const float scale = static_cast<float>(p.scale) * log_unit;
  const float mask = rnd(r.scores, r.mask_value);
  const bool finite_mask = std::isfinite(mask);
  const float sink = p.has_sinks ? in.sinks[h] * log_unit : -kInf;

  const std::int64_t t0 = i / tiles.q * tiles.q, t1 = std::min(t0 + tiles.q, s.tokens);
  std::int64_t lo_all = s.kv_tokens, hi_all = 0;
  for (std::int64_t row = t0; row < t1; ++row) {
    const auto k = p.visible_keys(row);
    if (!k.empty()) lo_all = std::min(lo_all, k.lo), hi_all = std::max(hi_all, k.hi);
  }
  const auto keys = p.visible_keys(i);
  float m = sink, l = 0.0f;
  bool seen = false;
  std::vector<float> acc(D, 0.0f), sc, pr;
  for (std::int64_t j0 = 0; j0 < s.kv_tokens; j0 += tiles.kv) {
    const std::int64_t j1 = std::min(j0 + tiles.kv, s.kv_tokens);
    if (j1 <= lo_all || j0 >= hi_all) continue;  // no row of the Q tile sees a key of this tile
    const std::int64_t a = std::max(j0, keys.lo), e = std::min(j1, keys.hi);
    const std::int64_t first = finite_mask ? j0 : a, last = finite_mask ? j1 : e;
    if (keys.empty() || first >= last) continue;
    sc.assign(last - first, 0.0f);
    for (std::int64_t j = first; j < last; ++j) {
      if (j < a || j >= e) {
        sc[j - first] = mask;
        continue;
      }
      float dot = 0.0f;
      for (std::int64_t d = 0; d < D; ++d)
        dot = std::fma(in.q[bshd(b, i, h, d, s.tokens, s.heads, D)], in.k[bshd(b, j, g, d, s.kv_tokens, s.kv_heads, D)],
                       dot);
      sc[j - first] = rnd(r.scores, scale * dot);
    }
    float local = -kInf;
    for (float x : sc) local = std::max(local, x);
    const float mx = std::max(m, local);
    const float alpha = ex(m - mx);
    for (float& x : acc) x = round_rescale ? rnd(r.acc_pv, x * alpha) : x * alpha;
    float lane[16] = {};
    pr.assign(sc.size(), 0.0f);
    for (std::int64_t j = first; j < last; ++j) {
      const float e_j = ex(sc[j - first] - mx);
      lane[j % 16] += e_j;
      pr[j - first] = rnd(r.probs, e_j);
    }
    for (int w = 8; w > 0; w /= 2)
      for (int n = 0; n < w; ++n) lane[n] += lane[n + w];
    l = rnd(r.acc_rowsum, l * alpha + rnd(r.acc_rowsum, lane[0]));
    m = mx;
    seen = seen || a < e;
    for (std::int64_t j = first; j < last; ++j)
      for (std::int64_t d = 0; d < D; ++d)
        acc[d] = rnd(r.acc_pv, std::fma(pr[j - first], in.v[bshd(b, j, g, d, s.kv_tokens, s.kv_heads, D)], acc[d]));
  }
  const float denom = l + (p.has_sinks ? ex(sink - m) : 0.0f);
  for (std::int64_t d = 0; d < D; ++d) o[d] = rnd(r.output, !seen || denom == 0.0f ? 0.0f : acc[d] / denom);
}

std::vector<float> reference(const Problem& p, const Inputs& in, const Recipe& r, TileSizes tiles,
                             bool round_rescale = true) {
  const Shape& s = p.shape;
  std::vector<float> out(s.q_elements());
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t i = 0; i < s.tokens; ++i)
      for (std::int64_t h = 0; h < s.heads; ++h)
        reference_row(p, in, r, tiles, b, h, i, &out[bshd(b, i, h, 0, s.tokens, s.heads, s.head_dim)], round_rescale);
  return out;
}

std::vector<float> tiled(const Problem& p, const Inputs& in, const Recipe& r, TileSizes tiles, int threads = 1,
                         Fault fault = Fault::none) {
  std::vector<float> out(p.shape.q_elements());
  tiled_attention(p, in, {.recipe = r, .tiles = tiles, .threads = threads, .fault = fault}, out);
  return out;
}

// Elements whose bits differ (+0 and -0 count as different).
std::int64_t bit_differences(const std::vector<float>& a, const std::vector<float>& b, std::string* first) {
  std::int64_t n = 0;
  for (std::size_t e = 0; e < a.size(); ++e)
    if (std::bit_cast<std::uint32_t>(a[e]) != std::bit_cast<std::uint32_t>(b[e]) && n++ == 0)
      *first = "element " + std::to_string(e) + ": " + std::to_string(a[e]) + " vs " + std::to_string(b[e]);
  return n;
}

struct Shaped {
  const char* what;
  Problem p;
  TileSizes tiles;
};

// Partial Q and KV tiles, GQA, sinks, a causal and a two-sided window, a decode row and a prefill
// chunk at an offset, rows with no key, several key blocks per tile, head_dim past one P·V block.
std::vector<Shaped> shapes() {
  return {
      {"partial tiles, GQA, sinks", test::make_problem(2, 19, 19, 4, 2, 12, true, 0, true), {4, 8}},
      {"causal window 5 over 4-key tiles", test::make_problem(1, 23, 23, 4, 1, 8, true, 5, true), {8, 4}},
      {"decode row at offset 44", test::make_problem(1, 1, 45, 8, 2, 16, true, 0, true), {128, 16}},
      {"prefill chunk at offset 35, window 9", test::make_problem(1, 5, 40, 4, 2, 16, true, 9, false), {4, 16}},
      {"non-causal window 7, offset 21", test::make_problem(1, 9, 30, 2, 2, 8, false, 7, false), {4, 8}},
      {"rows with no key", test::make_problem(1, 12, 7, 2, 1, 8, true, 0, false), {4, 4}},
      {"64-key tiles, head_dim 40", test::make_problem(1, 70, 100, 2, 1, 40, true, 0, true), {16, 64}},
  };
}

Inputs inputs_in(const Problem& p, const Recipe& r, std::uint64_t seed) {
  Inputs in = test::lcg_inputs(p, seed);
  quantize_inputs(r, p.shape, in);
  return in;
}

}  // namespace

TEST_CASE("recipe points: the tiled kernel equals the documented rounding bit for bit", "[tiled][recipe_points]") {
  const char* recipes[] = {
      "fp32+acc_pv=fp16",
      "fp32+acc_pv=bf16",
      "fp32+acc_rowsum=fp16",
      "fp32+acc_rowsum=bf16",
      "fp32+scores=bf16",
      "fp32+scores=fp16",
      "fp32+probs=e5m2",
      "fp32+kv=fp16+acc_pv=fp16",  // ggml's CPU flash attention
      "bf16-mixed+scores=bf16+acc_pv=fp16+acc_rowsum=fp16",
      "fp16-mixed+acc_pv=fp16+acc_rowsum=fp16+scores=fp16+exp2=true",
      "fp32+scores=bf16+acc_pv=bf16+mask_value=-1e6",
      "fp32+scores=fp16+acc_pv=fp16+mask_value=-1e6",  // the mask overflows fp16: -inf
      "fp8-e4m3+acc_pv=bf16+acc_rowsum=bf16",
      "fp8-e4m3+kv_scale=per_head+acc_pv=fp16",
  };
  int compared = 0;
  for (const char* text : recipes) {
    const Recipe r = recipe(text);
    for (const Shaped& sh : shapes()) {
      INFO(text << " on " << sh.what);
      const Inputs in = inputs_in(sh.p, r, std::uint64_t(sh.p.shape.kv_tokens * 31 + sh.p.shape.tokens));
      std::string first;
      const std::int64_t differ = bit_differences(tiled(sh.p, in, r, sh.tiles), reference(sh.p, in, r, sh.tiles), &first);
      INFO(first);
      CHECK(differ == 0);
      ++compared;
    }
  }
  CHECK(compared == 14 * 7);
}

TEST_CASE("recipe points: the reference equals the kernel for the presets too", "[tiled][recipe_points]") {
  // The reference is no model of something else: on the presets (no narrow internals) it gives the
  // preset kernel's bits, so a difference above is the point's rounding, not the reference's order.
  for (const char* text : {"fp32", "bf16-mixed", "fp16-mixed", "fp8-e4m3"})
    for (const Shaped& sh : shapes()) {
      INFO(text << " on " << sh.what);
      const Recipe r = recipe(text);
      const Inputs in = inputs_in(sh.p, r, 5);
      std::string first;
      const std::int64_t differ = bit_differences(tiled(sh.p, in, r, sh.tiles), reference(sh.p, in, r, sh.tiles), &first);
      INFO(first);
      CHECK(differ == 0);
    }
}

TEST_CASE("recipe points: each point changes the output against the recipe without it", "[tiled][recipe_points]") {
  // A point the kernel ignored would leave the output as the base recipe's: every one must move it.
  const Problem p = test::make_problem(1, 40, 70, 4, 2, 16, true, 0, true);
  const TileSizes tiles{16, 32};
  struct Pair {
    const char* base;
    const char* narrow;
    DType point;  // the format the narrow recipe adds
  };
  using D = DType;
  const Pair pairs[] = {
      {"fp32", "fp32+acc_pv=fp16", D::f16},         {"fp32", "fp32+acc_pv=bf16", D::bf16},
      {"fp32", "fp32+acc_rowsum=fp16", D::f16},     {"fp32", "fp32+acc_rowsum=bf16", D::bf16},
      {"fp32", "fp32+scores=bf16", D::bf16},        {"fp32", "fp32+scores=fp16", D::f16},
      {"fp32", "fp32+probs=e5m2", D::e5m2},         {"fp32+probs=e4m3", "fp32+probs=e5m2", D::e5m2},
      {"bf16-mixed", "bf16-mixed+acc_pv=fp16", D::bf16}, {"fp32+kv=fp16", "fp32+kv=fp16+acc_pv=fp16", D::f16},
  };
  for (const auto& [base, narrow, point] : pairs) {
    INFO(base << " -> " << narrow);
    const Recipe rb = recipe(base), rn = recipe(narrow);
    const Inputs in = inputs_in(p, rb, 3);  // the same stored inputs for both
    std::string first;
    const auto o = tiled(p, in, rn, tiles);
    CHECK(bit_differences(tiled(p, in, rb, tiles), o, &first) > 0);
    // It moves the output by a few units of the point's format (or the inputs' bf16), no more:
    // measured 0.0027 (acc_pv fp16), 0.020 (acc_pv bf16), 0.043 (probs e5m2) of the peak.
    std::vector<double> gold(p.shape.q_elements());
    golden_attention(p, in, gold);
    CHECK(test::max_rel_to_peak({o.begin(), o.end()}, gold) < 8 * unit_roundoff(point));
  }
}

TEST_CASE("recipe points: the acc_pv rescale is rounded too", "[tiled][recipe_points]") {
  // Many 8-key tiles: between two tiles the accumulator is rescaled by alpha = exp(m - m'), an
  // arbitrary float, so acc·alpha leaves the format and the next fma rounds from there. A kernel
  // that skipped the rescale's rounding would match the reference without it instead.
  const Problem p = test::make_problem(1, 33, 64, 2, 1, 16, true, 0, false);
  const TileSizes tiles{8, 8};
  for (const char* text : {"fp32+acc_pv=fp16", "fp32+acc_pv=bf16"}) {
    INFO(text);
    const Recipe r = recipe(text);
    const Inputs in = inputs_in(p, r, 11);
    const auto kernel = tiled(p, in, r, tiles);
    std::string first;
    CHECK(bit_differences(kernel, reference(p, in, r, tiles, true), &first) == 0);
    CHECK(bit_differences(kernel, reference(p, in, r, tiles, false), &first) > 0);
  }
  // The acc_bf16 mutant stays what it was before recipes had acc_pv (the kernel plus bf16 rounding
  // after every key's fma, the rescale unrounded): not the same kernel as acc_pv=bf16.
  const Inputs in = inputs_in(p, recipe("fp32"), 11);
  std::string first;
  CHECK(bit_differences(tiled(p, in, recipe("fp32"), tiles, 1, Fault::acc_bf16),
                        tiled(p, in, recipe("fp32+acc_pv=bf16"), tiles), &first) > 0);
}

TEST_CASE("recipe points: thread count does not change the bits under acc_pv fp16", "[tiled][recipe_points]") {
  const Problem p = test::make_problem(2, 37, 53, 6, 2, 16, true, 9, true);
  for (const char* text : {"fp32+kv=fp16+acc_pv=fp16", "bf16-mixed+acc_pv=fp16+acc_rowsum=fp16+scores=bf16"}) {
    INFO(text);
    const Recipe r = recipe(text);
    const Inputs in = inputs_in(p, r, 8);
    const auto one = tiled(p, in, r, {8, 16}, 1);
    std::string first;
    CHECK(bit_differences(tiled(p, in, r, {8, 16}, 2), one, &first) == 0);
    CHECK(bit_differences(tiled(p, in, r, {8, 16}, 3), one, &first) == 0);
  }
}

TEST_CASE("recipe points: the acc_bf16 mutant is unsupported where P·V is already narrow", "[mutants][recipe_points]") {
  const MutantInfo& m = *find_mutant("acc_bf16");
  CHECK(mutant_unsupported(m, recipe("fp32")) == "");
  CHECK(mutant_unsupported(m, recipe("bf16-mixed+acc_rowsum=bf16")) == "");
  for (const char* text : {"fp32+acc_pv=bf16", "bf16-mixed+acc_pv=fp16"}) {
    const std::string why = mutant_unsupported(m, recipe(text));
    INFO(why);
    CHECK(why.find("acc_bf16") == 0);
    CHECK(why.find(text) != std::string::npos);
    CHECK(why.find(std::string("accumulates P·V in ") + (std::string(text).find("fp16") != std::string::npos ? "fp16" : "bf16")) !=
          std::string::npos);
  }
}

TEST_CASE("recipe points: per-head fp8 K/V scales reach the kernel as dequantised values", "[tiled][recipe_points]") {
  // K and V of KV head 1 are 10 times head 0's, so per-head scales differ; the kernel must read the
  // dequantised values quantize_inputs left, i.e. agree with golden on the same inputs.
  const Problem p = test::make_problem(1, 21, 29, 4, 2, 16, true, 0, true);
  for (const char* text : {"fp32+kv=e4m3+kv_scale=per_head", "fp8-e4m3+kv_scale=per_head"}) {
    INFO(text);
    const Recipe r = recipe(text);
    Inputs in = test::lcg_inputs(p, 9);
    for (std::size_t n = 0; n < in.k.size(); ++n)
      if ((n / 16) % 2 == 1) in.k[n] *= 10.0f, in.v[n] *= 10.0f;  // [B][Sk][Hkv][D]: head = (n / D) % 2
    Inputs per_tensor = in;
    quantize_inputs(r, p.shape, in);
    REQUIRE(in.k_head_scales.size() == 2);
    CHECK(in.k_head_scales[1] == Approx(10.0f * in.k_head_scales[0]).epsilon(1e-6));
    CHECK(in.v_head_scales[1] == Approx(10.0f * in.v_head_scales[0]).epsilon(1e-6));
    std::vector<double> gold(p.shape.q_elements());
    golden_attention(p, in, gold);
    const auto o = tiled(p, in, r, {8, 8});
    const std::vector<double> od(o.begin(), o.end());
    float vmax = 0;
    for (float v : in.v) vmax = std::max(vmax, std::abs(v));
    double err = 0;
    for (std::size_t n = 0; n < od.size(); ++n) err = std::max(err, std::abs(od[n] - gold[n]));
    if (r.probs == DType::f32) CHECK(test::max_rel_to_peak(od, gold) <= 1e-5);
    else CHECK(err <= 2 * unit_roundoff(r.probs) * vmax);  // P rounded to e4m3: u·max|V| per row
    // A per-tensor scale stores head 0 on another grid (a power-of-2 ratio would not show it: fp8
    // rounds relative to the scale): per-head inputs are not the per-tensor ones.
    Recipe pt = r;
    pt.kv_scale = ScaleScheme::per_tensor;
    quantize_inputs(pt, p.shape, per_tensor);
    CHECK(per_tensor.k != in.k);
  }
}

TEST_CASE("recipe points: the naive reference rounds to the eager dtype only", "[naive][recipe_points]") {
  // The eager reference models no narrow accumulator (naive.cpp): narrowing a kernel-only point
  // leaves it bit-identical.
  const Problem p = test::make_problem(1, 19, 19, 4, 2, 12, true, 0, true);
  const Recipe base = recipe("bf16-mixed");
  const Inputs in = inputs_in(p, base, 2);
  std::vector<float> a(p.shape.q_elements()), b(p.shape.q_elements());
  naive_attention(p, in, base, a);
  naive_attention(p, in, recipe("bf16-mixed+scores=fp16+acc_pv=fp16+acc_rowsum=bf16"), b);
  CHECK(a == b);
}

TEST_CASE("recipe points: every variant runs under narrow recipes and stays finite", "[variants][recipe_points]") {
  const Problem p = test::make_problem(1, 37, 90, 4, 2, 16, true, 0, true);
  for (const char* text : {"fp32+kv=fp16+acc_pv=fp16", "fp32+probs=e5m2", "bf16-mixed+scores=bf16+acc_rowsum=bf16",
                           "int8+acc_pv=fp16+scores=fp16", "fp8-e4m3+kv_scale=per_head+acc_pv=bf16",
                           "fp32+q=bf16+k=fp16+v=e5m2+probs=e5m2+mask_value=-1e6"}) {
    const Recipe r = recipe(text);
    const Inputs in = inputs_in(p, r, 4);
    std::vector<double> gold(p.shape.q_elements());
    golden_attention(p, in, gold);
    for (const VariantInfo& v : variants()) {
      INFO(text << " variant " << v.name);
      REQUIRE(variant_unsupported(v, r) == "");
      std::vector<float> out(p.shape.q_elements(), std::numeric_limits<float>::quiet_NaN());
      v.run(p, in, r, {16, 32}, out, 2);
      CHECK(std::all_of(out.begin(), out.end(), [](float x) { return std::isfinite(x); }));
      // int8 output quantises to max|O| / 254 steps; every other recipe here is within 10% of peak.
      CHECK(test::max_rel_to_peak({out.begin(), out.end()}, gold) < 0.1);
    }
  }
}
