// The reference against answers known by construction and against an independent float64
// attention written in the test (tests/test_util.hpp).
#include <catch2/catch.hpp>

#include <cmath>

#include "kernels/golden.hpp"
#include "tests/test_util.hpp"

using namespace attn;
using Catch::Matchers::WithinAbs;

TEST_CASE("golden: a 2x2 attention worked out on paper", "[golden]") {
  // D = 1, scale 1, non-causal. q = [1, 2], k = [0, 1], v = [10, 20].
  // Row 0: scores [0, 1] -> p = [1, e] / (1 + e); o = (10 + 20e) / (1 + e).
  // Row 1: scores [0, 2] -> o = (10 + 20e^2) / (1 + e^2).
  Problem p = test::make_problem(1, 2, 2, 1, 1, 1, false, 0, false);
  p.scale = 1.0;
  const Inputs in{.q = {1, 2}, .k = {0, 1}, .v = {10, 20}};
  std::vector<double> out(2);
  golden_attention(p, in, out);
  const double e = std::exp(1.0);
  CHECK_THAT(out[0], WithinAbs((10 + 20 * e) / (1 + e), 1e-13));
  CHECK_THAT(out[1], WithinAbs((10 + 20 * e * e) / (1 + e * e), 1e-13));

  // Causal: row 0 sees only key 0, so it is exactly v0.
  p.causal = true;
  golden_attention(p, in, out);
  CHECK(out[0] == 10.0);
  CHECK_THAT(out[1], WithinAbs((10 + 20 * e * e) / (1 + e * e), 1e-13));
}

TEST_CASE("golden: a sink that takes all the weight gives 0", "[golden]") {
  Problem p = test::make_problem(1, 4, 4, 2, 2, 8, true, 0, true);
  Inputs in = test::lcg_inputs(p, 3);
  in.sinks = {800.0f, 800.0f};  // exp(score - 800) underflows to exactly 0 in float64
  std::vector<double> out(p.shape.q_elements());
  golden_attention(p, in, out);
  for (double o : out) CHECK(o == 0.0);
}

TEST_CASE("golden: a sink of 0 with one visible key scales V by 1/(1 + e^-s)", "[golden]") {
  Problem p = test::make_problem(1, 1, 1, 1, 1, 2, true, 0, true);
  p.scale = 1.0;
  const Inputs in{.q = {1, 1}, .k = {0.5, 0.25}, .v = {4, -8}, .sinks = {0.0f}};
  std::vector<double> out(2);
  golden_attention(p, in, out);
  const double w = std::exp(0.75) / (1.0 + std::exp(0.75));
  CHECK_THAT(out[0], WithinAbs(4 * w, 1e-14));
  CHECK_THAT(out[1], WithinAbs(-8 * w, 1e-14));
}

TEST_CASE("golden: window 1 returns V itself, through the GQA mapping", "[golden]") {
  Problem p = test::make_problem(2, 7, 7, 4, 2, 5, true, 1, false);
  const Inputs in = test::lcg_inputs(p, 11);
  std::vector<double> out(p.shape.q_elements());
  golden_attention(p, in, out);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t i = 0; i < 7; ++i)
      for (std::int64_t h = 0; h < 4; ++h)
        for (std::int64_t d = 0; d < 5; ++d)
          CHECK(out[bshd(b, i, h, d, 7, 4, 5)] == double(in.v[bshd(b, i, h / 2, d, 7, 2, 5)]));
}

TEST_CASE("golden: equal scores give the mean of the visible V rows", "[golden]") {
  Problem p = test::make_problem(1, 5, 5, 1, 1, 3, true, 0, false);
  Inputs in = test::lcg_inputs(p, 5);
  std::fill(in.k.begin(), in.k.end(), 0.0f);  // every score 0
  std::vector<double> out(p.shape.q_elements());
  golden_attention(p, in, out);
  for (std::int64_t i = 0; i < 5; ++i)
    for (std::int64_t d = 0; d < 3; ++d) {
      double mean = 0;
      for (std::int64_t j = 0; j <= i; ++j) mean += in.v[j * 3 + d];
      CHECK_THAT(out[i * 3 + d], WithinAbs(mean / double(i + 1), 1e-14));
    }
}

TEST_CASE("golden agrees with an independent float64 attention to 1e-12", "[golden]") {
  // Shapes chosen to be in no shipped config: odd sizes, GQA ratios 1..6, decode offsets, windows
  // larger and smaller than the sequence, non-causal windows, batches.
  struct S { std::int64_t B, Sq, Sk, H, Hkv, D; bool causal; std::int64_t W; bool sinks; };
  const S shapes[] = {
      {1, 13, 13, 3, 1, 7, true, 0, false},   {2, 5, 19, 6, 2, 9, true, 0, true},
      {1, 1, 33, 4, 4, 16, true, 5, true},    {3, 11, 11, 2, 1, 5, false, 0, true},
      {1, 17, 17, 6, 3, 12, false, 4, false}, {2, 9, 23, 4, 1, 3, true, 30, true},
      {1, 29, 29, 1, 1, 33, true, 1, true},   {1, 6, 40, 5, 5, 10, false, 3, true},
  };
  for (const S& s : shapes) {
    const Problem p = test::make_problem(s.B, s.Sq, s.Sk, s.H, s.Hkv, s.D, s.causal, s.W, s.sinks);
    const Inputs in = test::lcg_inputs(p, std::uint64_t(s.Sq * 31 + s.D));
    std::vector<double> out(p.shape.q_elements());
    golden_attention(p, in, out);
    INFO("B " << s.B << " Sq " << s.Sq << " Sk " << s.Sk << " H " << s.H << " Hkv " << s.Hkv << " D " << s.D);
    CHECK(test::max_rel_to_peak(out, test::independent_attention(p, in)) <= 1e-12);
  }
}

TEST_CASE("golden: an empty row is exactly 0, with or without sinks", "[golden]") {
  // Queries at positions -3..2 (q_offset -3) of 3 keys: causal rows 0..2 see no key.
  for (bool sinks : {false, true}) {
    Problem p = test::make_problem(1, 6, 3, 2, 1, 4, true, 0, sinks);
    CHECK(p.shape.q_offset == -3);
    CHECK(p.empty_rows() == 3);
    const Inputs in = test::lcg_inputs(p, 9);
    std::vector<double> out(p.shape.q_elements());
    golden_attention(p, in, out);
    for (std::int64_t n = 0; n < 3 * 2 * 4; ++n) CHECK(out[n] == 0.0);
    CHECK(test::max_rel_to_peak(out, test::independent_attention(p, in)) <= 1e-12);
  }
}
