// The input generator: the written-down formula, determinism, and distribution sanity.
#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <set>

#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"
#include "src/suite/rng.hpp"

using namespace attn;

TEST_CASE("rng: SplitMix64's finaliser matches its published reference outputs", "[rng]") {
  // The first outputs of the SplitMix64 reference generator seeded with 0 are mix(γ), mix(2γ), ...
  CHECK(splitmix_mix(0x9E3779B97F4A7C15ull) == 0xE220A8397B1DCDAFull);
  CHECK(splitmix_mix(2 * 0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
  CHECK(splitmix_mix(3 * 0x9E3779B97F4A7C15ull) == 0x06C45D188009454Full);
}

TEST_CASE("rng: counter-based streams depend only on (seed, tensor, index)", "[rng]") {
  const auto key = stream_key(7, Stream::q);
  CHECK(key == splitmix_mix(splitmix_mix(7) ^ (kGamma * 2)));
  CHECK(stream_bits(key, 5) == splitmix_mix(key + kGamma * 6));
  CHECK(stream_key(7, Stream::q) != stream_key(7, Stream::k));
  CHECK(stream_key(7, Stream::q) != stream_key(8, Stream::q));
  for (std::uint64_t n = 0; n < 1000; ++n) {
    const double u = stream_uniform(key, n);
    CHECK(u > 0.0);
    CHECK(u < 1.0);
  }
}

TEST_CASE("rng: normal draws have mean 0 and variance 1", "[rng]") {
  const auto key = stream_key(1, Stream::v);
  const int n = 200000;
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double x = stream_normal(key, std::uint64_t(i));
    sum += x, sq += x * x;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  CHECK(std::abs(mean) < 5.0 / std::sqrt(double(n)));  // 5 sigma
  CHECK(std::abs(var - 1.0) < 0.02);
}

TEST_CASE("rng: inputs are the same for every thread count and rounded to the input dtype", "[rng]") {
  const nlohmann::json doc = nlohmann::json::parse(R"({ "cases": [
      { "name": "a", "tokens": 33, "heads": 4, "kv_heads": 2, "head_dim": 8, "sinks": { "dist": "normal" },
        "inputs": { "dist": "outliers", "fraction": 0.05, "magnitude": 40 } } ] })");
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(doc, "t.json", {}, &s, &d));
  const Inputs one = make_inputs(s.cases[0], 1);
  const Inputs three = make_inputs(s.cases[0], 3);
  CHECK(one.q == three.q);
  CHECK(one.k == three.k);
  CHECK(one.v == three.v);
  CHECK(one.sinks == three.sinks);
  REQUIRE(one.sinks.size() == 4);
  int outliers = 0;
  for (float x : one.q) {
    CHECK(round_bf16(x) == x);
    outliers += std::abs(x) == 40.0f;
  }
  CHECK(outliers > 0);
  CHECK(one.q != one.k);

  // dO of a backward case, generated in 65536-element blocks across threads: the same bits.
  Suite b;
  REQUIRE(parse_suite(nlohmann::json::parse(R"({ "cases": [ { "name": "b", "tokens": 2100, "heads": 4, "head_dim": 16,
      "backward": true, "grad_output": { "dist": "outliers", "fraction": 0.01, "magnitude": 9 } } ] })"),
                      "t.json", {}, &b, &d));
  const Inputs b1 = make_inputs(b.cases[0], 1), b3 = make_inputs(b.cases[0], 3);
  REQUIRE(b1.dout.size() == 2100 * 4 * 16);
  CHECK(b1.dout == b3.dout);
  CHECK(std::count(b1.dout.begin(), b1.dout.end(), 9.0f) > 0);
}

TEST_CASE("rng: uniform and constant distributions stay in range", "[rng]") {
  std::vector<float> out(1000);
  fill_distribution({.dist = "uniform", .low = 2, .high = 3}, 0, Stream::q, Stream::q_outliers, out);
  for (float x : out) {
    CHECK(x >= 2.0f);
    CHECK(x <= 3.0f);
  }
  fill_distribution({.dist = "constant", .value = 0.3}, 0, Stream::q, Stream::q_outliers, out);
  for (float x : out) CHECK(x == 0.3f);
}

TEST_CASE("rng: integers draws every whole number of [low, high] and nothing else", "[rng]") {
  std::vector<float> out(1000);
  fill_distribution({.dist = "integers", .low = -2, .high = 2}, 0, Stream::q, Stream::q_outliers, out);
  std::set<float> seen(out.begin(), out.end());
  CHECK(seen == std::set<float>{-2, -1, 0, 1, 2});
  fill_distribution({.dist = "integers", .low = 3, .high = 3}, 0, Stream::q, Stream::q_outliers, out);
  for (float x : out) CHECK(x == 3.0f);
}

TEST_CASE("rng: a backward case draws dO from its own stream, rounded to the gradient's dtype", "[rng][backward]") {
  auto load_one = [](const std::string& extra) {
    const nlohmann::json doc = nlohmann::json::parse(R"({ "cases": [ { "name": "a", "tokens": 9, "heads": 2,
        "head_dim": 8, "sinks": { "dist": "normal" } )" + extra + "} ] }");
    Suite s;
    Diagnostics d;
    REQUIRE(parse_suite(doc, "t.json", {}, &s, &d));
    return s.cases[0];
  };
  const Inputs fwd = make_inputs(load_one(""), 1);
  const Inputs bwd = make_inputs(load_one(R"(, "backward": true)"), 1);
  CHECK(fwd.dout.empty());
  // The forward inputs are the same bits with and without the backward pass.
  CHECK(bwd.q == fwd.q);
  CHECK(bwd.k == fwd.k);
  CHECK(bwd.v == fwd.v);
  CHECK(bwd.sinks == fwd.sinks);
  REQUIRE(bwd.dout.size() == fwd.q.size());
  CHECK(bwd.dout != bwd.q);
  for (float x : bwd.dout) CHECK(round_bf16(x) == x);  // bf16-mixed: dO in bf16
  const Inputs other = make_inputs(load_one(R"(, "backward": true, "seed": 1)"), 1);
  CHECK(other.dout != bwd.dout);
  const Inputs fp16 = make_inputs(load_one(R"(, "backward": true, "precision": "fp16-mixed")"), 1);
  for (float x : fp16.dout) CHECK(round_f16(x) == x);
  CHECK(std::any_of(fp16.dout.begin(), fp16.dout.end(), [](float x) { return round_bf16(x) != x; }));
  const Inputs big = make_inputs(load_one(R"(, "backward": true, "grad_output": { "dist": "constant", "value": 3 })"), 1);
  for (float x : big.dout) CHECK(x == 3.0f);
}
