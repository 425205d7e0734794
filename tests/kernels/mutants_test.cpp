// Every mutant differs from the correct kernel where its bug can show and is bit-identical to it
// where it cannot: proof that each is the correct kernel plus exactly one fault.
#include <catch2/catch.hpp>

#include <map>

#include "kernels/mutants.hpp"
#include "kernels/tiled.hpp"
#include "src/suite/inputs.hpp"
#include "src/suite/dtype.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

struct Setup {
  Problem p;
  Inputs in;
  const char* recipe = "fp32";
  TileSizes tiles{4, 8};
};

Setup make(std::int64_t Sq, std::int64_t Sk, std::int64_t H, std::int64_t Hkv, std::int64_t D, bool causal,
           std::int64_t W, bool sinks, const char* recipe = "fp32", TileSizes tiles = {4, 8}) {
  Setup s{test::make_problem(1, Sq, Sk, H, Hkv, D, causal, W, sinks), {}, recipe, tiles};
  s.in = test::lcg_inputs(s.p, std::uint64_t(Sq * 7 + Sk));
  return s;
}

std::vector<float> run(const Setup& s, Fault f) {
  std::vector<float> out(s.p.shape.q_elements());
  Inputs in = s.in;
  const Recipe r = *recipe_by_name(s.recipe);
  if (r.scaled_input()) quantize_inputs(r, s.p.shape, in);  // as the harness does
  tiled_attention(s.p, in, {.recipe = r, .tiles = s.tiles, .fault = f}, out);
  return out;
}

// Per mutant: a problem where the bug shows, and one where it cannot.
std::map<std::string, std::pair<Setup, Setup>> cases() {
  std::map<std::string, std::pair<Setup, Setup>> m;
  m["no_sinks"] = {make(9, 9, 2, 2, 4, true, 0, true), make(9, 9, 2, 2, 4, true, 0, false)};
  m["sink_not_in_max"] = {make(9, 9, 2, 2, 4, true, 0, true), make(9, 9, 2, 2, 4, true, 0, false)};
  m["no_scale"] = {make(9, 9, 2, 2, 4, true, 0, false), make(9, 9, 2, 2, 1, true, 0, false)};       // D = 1: scale 1
  m["double_scale"] = {make(9, 9, 2, 2, 4, true, 0, false), make(9, 9, 2, 2, 1, true, 0, false)};
  m["window_off_by_one"] = {make(12, 12, 2, 2, 4, true, 3, false), make(12, 12, 2, 2, 4, true, 0, false)};
  m["causal_ignored"] = {make(9, 9, 2, 2, 4, true, 0, false), make(9, 9, 2, 2, 4, false, 0, false)};
  m["no_rescale"] = {make(20, 20, 2, 2, 4, true, 0, false), make(8, 8, 2, 2, 4, true, 0, false)};     // one KV tile
  m["stale_max"] = {make(20, 20, 2, 2, 4, true, 0, true), make(20, 20, 2, 2, 4, true, 0, false)};
  m["gqa_interleaved"] = {make(9, 9, 4, 2, 4, true, 0, false), make(9, 9, 4, 1, 4, true, 0, false)};  // Hkv = 1
  m["kv_tail_dropped"] = {make(19, 19, 2, 2, 4, true, 0, false), make(16, 16, 2, 2, 4, true, 0, false)};
  m["q_tail_dropped"] = {make(9, 9, 2, 2, 4, true, 0, false), make(8, 8, 2, 2, 4, true, 0, false)};
  m["prefix_skipped"] = {make(3, 12, 2, 2, 4, true, 0, false), make(12, 12, 2, 2, 4, true, 0, false)};
  // Sq = Sk = 9 with 16-query tiles: key 8, alone in the second KV tile, is the last visible key.
  m["tile_skip_off_by_one"] = {make(9, 9, 2, 2, 4, true, 0, false, "fp32", {16, 8}),
                               make(16, 16, 2, 2, 4, true, 0, false, "fp32", {16, 8})};
  // Window 1 in bf16: the accumulator only ever holds 1·v, a bf16 value already.
  m["acc_bf16"] = {make(9, 9, 2, 2, 4, true, 0, false), make(9, 9, 2, 2, 4, true, 1, false, "bf16-mixed")};
  m["int8_saturation"] = {make(9, 9, 2, 2, 16, true, 0, false, "int8"), make(3, 3, 1, 1, 2, true, 0, false, "int8")};
  // int8 codes q = [127, 1], k = [0, 127]: every dot product is exactly 127, inside the int8 range.
  auto& hidden = m["int8_saturation"].second;
  hidden.in.q = {1.0f, 1.0f / 127, 1.0f, 1.0f / 127, 1.0f, 1.0f / 127};
  hidden.in.k = {0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f};
  // q_offset -4: rows 0..3 see no key and share a query tile with rows that do.
  m["finite_mask_leak"] = {make(12, 8, 2, 2, 4, true, 0, false, "bf16-mixed", {16, 8}),
                           make(12, 12, 2, 2, 4, true, 0, false, "bf16-mixed", {16, 8})};
  return m;
}

}  // namespace

TEST_CASE("every mutant differs where its bug shows and equals the correct kernel where it cannot", "[mutants]") {
  const auto table = cases();
  const Setup everything = make(20, 20, 4, 2, 4, true, 5, true);  // sinks, window, GQA, several KV tiles
  for (const MutantInfo& m : mutants()) {
    INFO("mutant " << m.name);
    if (m.backward) {  // its gradients: tests/kernels/tiled_backward_test.cpp; its forward is the correct one
      CHECK(run(everything, m.fault) == run(everything, Fault::none));
      continue;
    }
    REQUIRE(table.count(m.name) == 1);  // a new mutant needs its pair of problems here
    const auto& [shows, hidden] = table.at(m.name);
    CHECK(run(shows, m.fault) != run(shows, Fault::none));
    CHECK(run(hidden, m.fault) == run(hidden, Fault::none));
  }
}

TEST_CASE("kv_tail_dropped equals the correct kernel whenever Sk is a multiple of the KV tile", "[mutants]") {
  for (std::int64_t Sk : {8, 16, 24, 32}) {
    const Setup s = make(5, Sk, 2, 1, 4, true, 0, true);
    CHECK(run(s, Fault::kv_tail_dropped) == run(s, Fault::none));
  }
  const Setup one_partial_tile = make(5, 6, 2, 1, 4, true, 0, true);  // Sk < tile: max(1, 0) = 1 tile
  CHECK(run(one_partial_tile, Fault::kv_tail_dropped) == run(one_partial_tile, Fault::none));
}

TEST_CASE("the mutant table is consistent", "[mutants]") {
  for (const MutantInfo& m : mutants()) {
    CHECK(find_mutant(m.name) == &m);
    CHECK(!m.description.empty());
    CHECK(m.fault != Fault::none);
  }
  CHECK(find_mutant("no_such") == nullptr);
  CHECK(mutant_unsupported(*find_mutant("int8_saturation"), *recipe_by_name("bf16-mixed")) != "");
  CHECK(mutant_unsupported(*find_mutant("int8_saturation"), *recipe_by_name("int8")) == "");
}

TEST_CASE("backward mutants run backward cases only", "[mutants]") {
  std::vector<std::string> backward;
  for (const MutantInfo& m : mutants())
    if (m.backward) {
      backward.push_back(m.name);
      CHECK(m.name.starts_with("bwd_"));
      CHECK(std::find(m.needs.begin(), m.needs.end(), "backward") != m.needs.end());
    }
  CHECK(backward.size() == 9);  // the nine of tests/kernels/tiled_backward_test.cpp's fault table
  CaseSpec c{.recipe = *recipe_by_name("bf16-mixed")};
  const MutantInfo& m = *find_mutant("bwd_no_delta");
  CHECK_THAT(mutant_unsupported(m, c), Catch::Contains("forward only"));
  c.backward = true;
  CHECK(mutant_unsupported(m, c) == "");
  CHECK(mutant_unsupported(*find_mutant("no_scale"), c) == "");
}
