// The legitimate variants (kernels/variants.hpp) against golden on cases whose answer is known by
// construction, so that a broken variant cannot pass calibration by being loosely "close".
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

std::vector<double> run_variant(const VariantInfo& v, const Problem& p, const Inputs& in, const char* recipe,
                                TileSizes tiles = {4, 8}, int threads = 1) {
  std::vector<float> out(p.shape.q_elements(), std::nanf(""));
  v.run(p, in, *recipe_by_name(recipe), tiles, out, threads);
  return {out.begin(), out.end()};
}

std::vector<double> run_golden(const Problem& p, const Inputs& in) {
  std::vector<double> out(p.shape.q_elements());
  golden_attention(p, in, out);
  return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("variants: one table of distinct names, each described", "[variants]") {
  std::set<std::string> names;
  for (const VariantInfo& v : variants()) {
    CHECK(names.insert(v.name).second);
    CHECK(!v.description.empty());
    CHECK(v.run);
    CHECK(find_variant(v.name) == &v);
  }
  for (const char* required : {"eager", "scores_lowp", "exp2", "split_kv"}) CHECK(names.count(required));
  CHECK(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.starts_with("tiles:"); }) >= 3);
  CHECK(find_variant("nope") == nullptr);
  for (const VariantInfo& v : variants())
    for (const std::string& r : recipe_names()) CHECK(variant_unsupported(v, *recipe_by_name(r)).empty());
}

TEST_CASE("variants: every variant agrees with golden in fp32 across masks, sinks, GQA and tile edges", "[variants]") {
  // 200 keys: split_kv's 64-key chunks give 4 of them, the last partial; Sq < Sk puts a decode offset.
  for (std::int64_t Sk : {1, 9, 64, 65, 200})
    for (std::int64_t Sq : {1, 5, 9})
      for (bool causal : {true, false})
        for (std::int64_t W : {0, 1, 7, 70})
          for (bool sinks : {false, true}) {
            if (Sq > Sk && !causal) continue;
            const Problem p = test::make_problem(2, Sq, Sk, 4, 2, 11, causal, W, sinks);
            const Inputs in = test::lcg_inputs(p, std::uint64_t(Sk * 100 + Sq + W));
            const auto golden = run_golden(p, in);
            const auto independent = test::independent_attention(p, in);
            REQUIRE(test::max_rel_to_peak(golden, independent) <= 1e-12);
            for (const VariantInfo& v : variants()) {
              INFO(v.name << ": Sq " << Sq << " Sk " << Sk << " causal " << causal << " W " << W << " sinks " << sinks);
              CHECK(test::max_rel_to_peak(run_variant(v, p, in, "fp32"), golden) <= 1e-5);
            }
          }
}

TEST_CASE("variants: known outputs by construction", "[variants]") {
  SECTION("a window of one key returns that key's V row exactly") {
    const Problem p = test::make_problem(1, 9, 9, 2, 1, 4, true, 1, false);
    const Inputs in = test::lcg_inputs(p, 4);
    for (const VariantInfo& v : variants())
      for (const char* recipe : {"fp32", "bf16-mixed"}) {
        INFO(v.name << " " << recipe);
        const auto out = run_variant(v, p, in, recipe, {2, 3});
        for (std::int64_t i = 0; i < 9; ++i)
          for (std::int64_t h = 0; h < 2; ++h)
            for (std::int64_t d = 0; d < 4; ++d) CHECK(out[bshd(0, i, h, d, 9, 2, 4)] == in.v[bshd(0, i, 0, d, 9, 1, 4)]);
      }
  }
  SECTION("rows with no visible key are exactly 0, the others not") {
    const Problem p = test::make_problem(1, 6, 3, 2, 2, 4, true, 0, false);  // q_offset -3: rows 0..2 see no key
    const Inputs in = test::lcg_inputs(p, 5);
    for (const VariantInfo& v : variants()) {
      INFO(v.name);
      const auto out = run_variant(v, p, in, "bf16-mixed");
      for (std::int64_t i = 0; i < 3; ++i)
        for (std::int64_t d = 0; d < 8; ++d) CHECK(out[i * 8 + d] == 0.0);
      CHECK(std::any_of(out.begin() + 24, out.end(), [](double x) { return x != 0.0; }));
    }
  }
  SECTION("equal scores average V: constant K gives the mean of the visible V rows") {
    Problem p = test::make_problem(1, 1, 300, 1, 1, 8, false, 0, false);  // 300 keys: 5 split_kv chunks
    Inputs in = test::lcg_inputs(p, 6);
    std::fill(in.k.begin(), in.k.end(), 0.25f);
    std::vector<double> mean(8, 0.0);
    for (std::int64_t j = 0; j < 300; ++j)
      for (std::int64_t d = 0; d < 8; ++d) mean[d] += in.v[j * 8 + d] / 300.0;
    for (const VariantInfo& v : variants()) {
      INFO(v.name);
      CHECK(max_abs_diff(run_variant(v, p, in, "fp32"), mean) <= 1e-5);
    }
  }
  SECTION("a sink far above every score drives the output to 0; far below leaves plain softmax") {
    Problem p = test::make_problem(1, 4, 130, 2, 1, 8, true, 0, true);
    Inputs in = test::lcg_inputs(p, 7);
    std::fill(in.sinks.begin(), in.sinks.end(), 80.0f);
    for (const VariantInfo& v : variants()) {
      INFO(v.name);
      const auto out = run_variant(v, p, in, "fp32");
      CHECK(*std::max_element(out.begin(), out.end(), [](double a, double b) { return std::abs(a) < std::abs(b); }) <= 1e-20);
    }
    std::fill(in.sinks.begin(), in.sinks.end(), -80.0f);
    Problem no_sink = p;
    no_sink.has_sinks = false;
    const auto plain = run_golden(no_sink, in);
    for (const VariantInfo& v : variants()) {
      INFO(v.name);
      CHECK(test::max_rel_to_peak(run_variant(v, p, in, "fp32"), plain) <= 1e-5);
    }
  }
}

TEST_CASE("variants: eager is the naive reference bit for bit, and the others round elsewhere", "[variants]") {
  const Problem p = test::make_problem(1, 40, 200, 4, 2, 16, true, 0, true);
  const Inputs in = test::lcg_inputs(p, 8);
  const Recipe bf16 = *recipe_by_name("bf16-mixed");
  std::vector<float> naive(p.shape.q_elements()), tiled(p.shape.q_elements());
  naive_attention(p, in, bf16, naive);
  tiled_attention(p, in, {.recipe = bf16, .tiles = {4, 8}}, tiled);
  const std::vector<double> n(naive.begin(), naive.end()), t(tiled.begin(), tiled.end());
  CHECK(run_variant(*find_variant("eager"), p, in, "bf16-mixed") == n);
  const auto golden = run_golden(p, in);
  const double envelope = std::max(max_abs_diff(n, golden), max_abs_diff(t, golden));
  std::vector<float> tiled32(p.shape.q_elements());
  tiled_attention(p, in, {.recipe = *recipe_by_name("fp32"), .tiles = {4, 8}}, tiled32);
  const std::vector<double> t32(tiled32.begin(), tiled32.end());
  for (const VariantInfo& v : variants()) {
    INFO(v.name);
    // Not the tiled kernel under another name: in fp32 at least one element comes out differently...
    CHECK(run_variant(v, p, in, "fp32") != t32);
    // ...and in bf16 every one is bf16, within twice the correct implementations' error.
    const auto out = run_variant(v, p, in, "bf16-mixed");
    for (double x : out) CHECK(double(round_bf16(float(x))) == x);
    CHECK(max_abs_diff(out, golden) <= 2 * envelope);
  }
}

TEST_CASE("variants: results do not depend on the thread count", "[variants]") {
  const Problem p = test::make_problem(2, 70, 150, 4, 2, 16, true, 33, true);
  const Inputs in = test::lcg_inputs(p, 9);
  for (const VariantInfo& v : variants()) {
    INFO(v.name);
    CHECK(run_variant(v, p, in, "bf16-mixed", {16, 32}, 1) == run_variant(v, p, in, "bf16-mixed", {16, 32}, 3));
  }
}

// per_key (ggml's order) under an fp16 P·V accumulator, with answers known by construction: a row
// that sees one key outputs that V row stored in fp16 (acc = fp16(0 + 1·v), l = 1); a row of two
// keys with equal scores is fp16(fp16(v0) + v1) / 2 (the second key's weight is exp(0) = 1); and
// over many keys the accumulator's rounding shows, where fp32 internals would not round at all.
TEST_CASE("variants: per_key rounds the P·V accumulator after every key", "[variants][recipe_points]") {
  const VariantInfo& pk = *find_variant("per_key");
  const Recipe acc16 = *parse_recipe_text("fp32+acc_pv=fp16", nullptr);
  SECTION("window 1: each row is its own V row in fp16") {
    const Problem p = test::make_problem(1, 9, 9, 2, 1, 8, true, 1, false);
    const Inputs in = test::lcg_inputs(p, 3);
    std::vector<float> out(p.shape.q_elements());
    pk.run(p, in, acc16, {}, out, 1);
    for (std::int64_t i = 0; i < 9; ++i)
      for (std::int64_t h = 0; h < 2; ++h)
        for (std::int64_t d = 0; d < 8; ++d)
          CHECK(out[bshd(0, i, h, d, 9, 2, 8)] == round_f16(in.v[bshd(0, i, 0, d, 9, 1, 8)]));
  }
  SECTION("two keys with equal scores") {
    Problem p = test::make_problem(1, 1, 2, 1, 1, 4, false, 0, false);
    Inputs in = test::lcg_inputs(p, 5);
    std::copy(in.k.begin(), in.k.begin() + 4, in.k.begin() + 4);  // equal keys: equal scores
    std::vector<float> out(4);
    pk.run(p, in, acc16, {}, out, 1);
    for (std::int64_t d = 0; d < 4; ++d) CHECK(out[d] == round_f16(round_f16(in.v[d]) + in.v[4 + d]) / 2.0f);
  }
  SECTION("many keys") {
    const Problem p = test::make_problem(1, 4, 2000, 2, 1, 16, true, 0, true);
    const Inputs in = test::lcg_inputs(p, 7);
    std::vector<float> a(p.shape.q_elements()), b(p.shape.q_elements());
    pk.run(p, in, acc16, {}, a, 2);
    pk.run(p, in, *recipe_by_name("fp32"), {}, b, 2);
    CHECK(a != b);
    std::vector<double> gold(p.shape.q_elements());
    golden_attention(p, in, gold);
    CHECK(test::max_rel_to_peak({a.begin(), a.end()}, gold) < 0.05);
  }
}
