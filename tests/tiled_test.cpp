// The tiled kernel against golden across shapes and tile sizes around every tile edge.
#include <catch2/catch.hpp>

#include <cmath>

#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
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
