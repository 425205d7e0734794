// The tiled kernel against golden across shapes and tile sizes around every tile edge.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>

#include "kernels/fast_math.hpp"
#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "src/judge/metrics.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

std::vector<double> run_tiled(const Problem& p, const Inputs& in, const char* recipe, TileSizes t, int threads = 1) {
  std::vector<float> out(p.shape.q_elements());
  tiled_attention(p, in, {.recipe = *recipe_by_name(recipe), .tiles = t, .threads = threads}, out);
  return {out.begin(), out.end()};
}

std::vector<double> run_golden(const Problem& p, const Inputs& in) {
  std::vector<double> out(p.shape.q_elements());
  golden_attention(p, in, out);
  return out;
}

}  // namespace

TEST_CASE("tiled fp32 agrees with golden to 1e-5 across shapes and tile edges", "[tiled]") {
  // KV tile T = 8 and Q tile 4: key counts 1, T-1, T, T+1, 2T+3 and query counts around 4.
  for (std::int64_t Sk : {1, 7, 8, 9, 19})
    for (std::int64_t Sq : {1, 3, 4, 5, 9})
      for (bool causal : {true, false})
        for (std::int64_t W : {0, 1, 3, 8})
          for (bool sinks : {false, true}) {
            if (Sq > Sk && !causal) continue;  // keep the grid small: negative offsets tested causal only
            const Problem p = test::make_problem(2, Sq, Sk, 4, 2, 6, causal, W, sinks);
            const Inputs in = test::lcg_inputs(p, std::uint64_t(Sk * 100 + Sq));
            const auto golden = run_golden(p, in);
            INFO("Sq " << Sq << " Sk " << Sk << " causal " << causal << " W " << W << " sinks " << sinks);
            CHECK(test::max_rel_to_peak(run_tiled(p, in, "fp32", {4, 8}), golden) <= 1e-5);
            CHECK(test::max_rel_to_peak(run_tiled(p, in, "fp32", {1, 1}), golden) <= 1e-5);
            CHECK(test::max_rel_to_peak(run_tiled(p, in, "fp32", {128, 2048}), golden) <= 1e-5);
          }
}

TEST_CASE("tiled: one visible key returns that V row, window 1 returns V", "[tiled]") {
  const Problem p = test::make_problem(1, 9, 9, 2, 1, 4, true, 1, false);
  const Inputs in = test::lcg_inputs(p, 4);
  const auto out = run_tiled(p, in, "bf16-mixed", {2, 3});
  for (std::int64_t i = 0; i < 9; ++i)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t d = 0; d < 4; ++d) CHECK(out[bshd(0, i, h, d, 9, 2, 4)] == in.v[bshd(0, i, 0, d, 9, 1, 4)]);
}

TEST_CASE("tiled: empty rows are exactly 0 and huge sinks zero the output", "[tiled]") {
  Problem p = test::make_problem(1, 6, 3, 2, 2, 4, true, 0, true);  // q_offset -3: rows 0..2 empty
  Inputs in = test::lcg_inputs(p, 2);
  auto out = run_tiled(p, in, "fp32", {2, 2});
  for (std::int64_t n = 0; n < 3 * 2 * 4; ++n) CHECK(out[n] == 0.0);
  p.has_sinks = false;
  in.sinks.clear();
  out = run_tiled(p, in, "fp32", {2, 2});
  for (std::int64_t n = 0; n < 3 * 2 * 4; ++n) CHECK(out[n] == 0.0);

  p = test::make_problem(1, 4, 4, 1, 1, 4, true, 0, true);
  in = test::lcg_inputs(p, 2);
  in.sinks = {200.0f};  // exp(s - 200) is 0 in float32
  for (double o : run_tiled(p, in, "fp32", {2, 2})) CHECK(o == 0.0);
}

TEST_CASE("tiled results are bit-identical for every thread count", "[tiled]") {
  const Problem p = test::make_problem(2, 37, 37, 6, 2, 16, true, 9, true);
  const Inputs in = test::lcg_inputs(p, 8);
  const auto one = run_tiled(p, in, "bf16-mixed", {8, 16}, 1);
  for (int threads : {2, 3, 7}) CHECK(run_tiled(p, in, "bf16-mixed", {8, 16}, threads) == one);
}

TEST_CASE("tiled bf16-mixed: outputs are bf16 values and the error is bf16-sized", "[tiled]") {
  const Problem p = test::make_problem(1, 40, 40, 4, 4, 32, true, 0, true);
  const Inputs in = test::lcg_inputs(p, 6);
  const auto out = run_tiled(p, in, "bf16-mixed", {16, 16});
  for (double o : out) CHECK(double(round_bf16(float(o))) == o);
  const double rel = test::max_rel_to_peak(out, run_golden(p, in));
  CHECK(rel > 1e-5);   // rounding happened
  CHECK(rel < 2e-2);   // and stayed at bf16 size
}

TEST_CASE("naive fp32 agrees with golden and naive bf16 rounds every output", "[naive]") {
  const Problem p = test::make_problem(2, 11, 15, 6, 3, 8, true, 5, true);
  const Inputs in = test::lcg_inputs(p, 10);
  const auto golden = run_golden(p, in);
  std::vector<float> out(p.shape.q_elements());
  naive_attention(p, in, *recipe_by_name("fp32"), out, 2);
  CHECK(test::max_rel_to_peak({out.begin(), out.end()}, golden) <= 1e-5);
  naive_attention(p, in, *recipe_by_name("bf16-mixed"), out, 2);
  for (float o : out) CHECK(round_bf16(o) == o);
  const double rel = test::max_rel_to_peak({out.begin(), out.end()}, golden);
  CHECK(rel > 1e-5);
  CHECK(rel < 5e-2);
}

TEST_CASE("naive bf16 on a hand-computed case rounds scores, probabilities and output", "[naive]") {
  // D = 1, scale 1, q = 1, keys 0 and 1, v = [1, 2]: p1 = e/(1+e) = 0.7310586 -> bf16 0.73046875
  // (ulp 2^-8), p0 = 0.2689414 -> bf16 0.26953125 (ulp 2^-9); o = 0.26953125 + 2·0.73046875 =
  // 1.73046875, exactly half-way between bf16 1.7265625 and 1.734375 (ulp 2^-7): ties to even.
  Problem p = test::make_problem(1, 1, 2, 1, 1, 1, true, 0, false);
  p.scale = 1.0;
  const Inputs in{.q = {1}, .k = {0, 1}, .v = {1, 2}};
  std::vector<float> out(1);
  naive_attention(p, in, *recipe_by_name("bf16-mixed"), out);
  CHECK(out[0] == 1.734375f);
}

namespace {

// The tiled kernel's definition (kernels/tiled.cpp and blocks.hpp) transcribed one row and one key
// at a time, for the fp32 recipe with a -inf mask: score = fma chain over d, the online softmax per
// KV tile (fully masked tiles skipped), row sums in the 16-lane order, P·V as an fma chain over keys.
std::vector<float> tiled_by_definition(const Problem& p, const Inputs& in, TileSizes t) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim;
  std::vector<float> out(s.q_elements());
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i0 = 0; i0 < s.tokens; i0 += t.q) {
        const std::int64_t i1 = std::min(i0 + t.q, s.tokens);
        std::int64_t lo_all = s.kv_tokens, hi_all = 0;
        for (std::int64_t i = i0; i < i1; ++i)
          if (auto r = p.visible_keys(i); !r.empty()) lo_all = std::min(lo_all, r.lo), hi_all = std::max(hi_all, r.hi);
        for (std::int64_t i = i0; i < i1; ++i) {
          const auto r = p.visible_keys(i);
          const float* q = &in.q[bshd(b, i, h, 0, s.tokens, s.heads, D)];
          float m = p.has_sinks ? in.sinks[h] : -INFINITY, l = 0;
          std::vector<float> acc(D, 0.0f);
          for (std::int64_t j0 = 0; j0 < s.kv_tokens; j0 += t.kv) {
            const std::int64_t j1 = std::min(j0 + t.kv, s.kv_tokens);
            if (j1 <= lo_all || j0 >= hi_all) continue;
            const std::int64_t a = std::max(j0, r.lo), e = std::min(j1, r.hi);
            if (a >= e) continue;
            std::vector<float> sc(e - a);
            float local = -INFINITY;
            for (std::int64_t j = a; j < e; ++j) {
              const float* k = &in.k[bshd(b, j, h / s.q_mult(), 0, s.kv_tokens, s.kv_heads, D)];
              float dot = 0;
              for (std::int64_t d = 0; d < D; ++d) dot = std::fma(q[d], k[d], dot);
              sc[j - a] = float(p.scale) * dot;
              local = std::max(local, sc[j - a]);
            }
            const float mx = std::max(m, local), alpha = fast_exp(m - mx);
            for (float& x : acc) x *= alpha;
            float lane[16] = {};
            for (std::int64_t j = a; j < e; ++j) {
              const float pj = fast_exp(sc[j - a] - mx);
              lane[j % 16] += pj;
              const float* v = &in.v[bshd(b, j, h / s.q_mult(), 0, s.kv_tokens, s.kv_heads, D)];
              for (std::int64_t d = 0; d < D; ++d) acc[d] = std::fma(pj, v[d], acc[d]);
            }
            for (int w = 8; w > 0; w /= 2)
              for (int k = 0; k < w; ++k) lane[k] += lane[k + w];
            l = l * alpha + lane[0];
            m = mx;
          }
          const float denom = l + (p.has_sinks ? fast_exp(in.sinks[h] - m) : 0.0f);
          for (std::int64_t d = 0; d < D; ++d)
            out[bshd(b, i, h, d, s.tokens, s.heads, D)] = r.empty() ? 0.0f : acc[d] / denom;
        }
      }
  return out;
}

}  // namespace

TEST_CASE("tiled fp32 is bit for bit its documented definition, transcribed one key at a time", "[tiled]") {
  struct Case {
    Problem p;
    TileSizes t;
  };
  std::vector<Case> cases = {
      {test::make_problem(1, 37, 37, 4, 2, 13, true, 9, true), {5, 7}},      // D not a multiple of 32
      {test::make_problem(2, 70, 90, 6, 3, 64, true, 0, true), {16, 33}},    // decode offset 20, GQA 2
      {test::make_problem(1, 50, 50, 2, 1, 40, false, 6, false), {128, 2048}},  // non-causal window
      {test::make_problem(1, 3, 200, 8, 8, 64, true, 0, true), {128, 64}},   // a few rows, many keys
  };
  cases.push_back({test::make_problem(1, 40, 30, 2, 2, 8, true, 0, true), {8, 16}});  // rows with no key
  for (const auto& [p, t] : cases) {
    const Inputs in = test::lcg_inputs(p, 21);
    std::vector<float> got(p.shape.q_elements());
    tiled_attention(p, in, {.recipe = *recipe_by_name("fp32"), .tiles = t, .threads = 2}, got);
    const auto want = tiled_by_definition(p, in, t);
    std::int64_t differ = 0;
    for (std::size_t n = 0; n < got.size(); ++n) differ += std::bit_cast<std::uint32_t>(got[n]) != std::bit_cast<std::uint32_t>(want[n]);
    INFO("Sq " << p.shape.tokens << " Sk " << p.shape.kv_tokens << " D " << p.shape.head_dim);
    CHECK(differ == 0);
  }
}

TEST_CASE("golden, naive and the metrics are bit-identical for every thread count", "[tiled]") {
  const Problem p = test::make_problem(2, 150, 150, 6, 2, 64, true, 40, true);  // 115200 elements: two metric chunks
  const Inputs in = test::lcg_inputs(p, 9);
  const Recipe bf16 = *recipe_by_name("bf16-mixed");
  auto golden = [&](int threads) {
    std::vector<double> out(p.shape.q_elements());
    golden_attention(p, in, out, threads);
    return out;
  };
  auto naive = [&](int threads) {
    std::vector<float> out(p.shape.q_elements());
    naive_attention(p, in, bf16, out, threads);
    return out;
  };
  const auto g1 = golden(1);
  const auto n1 = naive(1);
  const std::vector<double> nd(n1.begin(), n1.end());
  const Index4 dims{2, 150, 6, 64};
  const Metrics m1 = compute_metrics(nd, g1, dims, {}, 1);
  for (int threads : {2, 3, 7}) {
    CHECK(golden(threads) == g1);
    CHECK(naive(threads) == n1);
    const Metrics m = compute_metrics(nd, g1, dims, {}, threads);
    CHECK(std::bit_cast<std::uint64_t>(*m.mae) == std::bit_cast<std::uint64_t>(*m1.mae));
    CHECK(std::bit_cast<std::uint64_t>(*m.pearson) == std::bit_cast<std::uint64_t>(*m1.pearson));
    CHECK(m.max_abs_index == m1.max_abs_index);
  }
}
