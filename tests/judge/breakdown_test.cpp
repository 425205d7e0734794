// Breakdowns whose answer is known by construction: an error planted at one element shows in its
// head, token, tile, heatmap cell and histogram bin and nowhere else; masked tile pairs have no
// data; and the window_off_by_one mutant lights up exactly the tokens its bug touches.
#include <catch2/catch.hpp>

#include <cmath>

#include "kernels/mutants.hpp"
#include "src/judge/breakdown.hpp"
#include "src/judge/runner.hpp"

using namespace attn;
using nlohmann::json;

namespace {

CaseSpec load_one(const json& c) {
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(json{{"suite", "t"}, {"cases", json::array({c})}}, "t.json", {}, &s, &d));
  return s.cases.at(0);
}

}  // namespace

TEST_CASE("breakdown: one planted error lands in its head, token, tile, cell and bin", "[breakdown]") {
  // B=2 Sq=10 H=3 D=4, query tiles of 4: element [1, 6, 2, 3] is off by 0.5, everything else exact.
  const CaseSpec c = load_one({{"name", "x"}, {"batch", 2}, {"tokens", 10}, {"heads", 3}, {"head_dim", 4},
                               {"tiles", {{"q", 4}, {"kv", 3}}}});
  std::vector<double> ref(2 * 10 * 3 * 4, 1.0), cand = ref;
  cand[std::size_t(bshd(1, 6, 2, 3, 10, 3, 4))] += 0.5;
  const Breakdown b = compute_breakdown(c, cand, ref);
  REQUIRE(b.per_head.size() == 6);
  for (std::size_t n = 0; n < 6; ++n) CHECK(b.per_head[n].max_abs == (n == 1 * 3 + 2 ? 0.5 : 0.0));
  CHECK(b.per_head[5].mae == Approx(0.5 / (10 * 4)));
  for (std::size_t i = 0; i < 10; ++i) CHECK(b.per_token[i].max_abs == (i == 6 ? 0.5 : 0.0));
  CHECK(b.per_token[6].mae == Approx(0.5 / (2 * 3 * 4)));
  REQUIRE(b.per_q_tile.size() == 3);  // tokens 0-3, 4-7, 8-9
  CHECK(b.per_q_tile[1].max_abs == 0.5);
  CHECK(b.per_q_tile[0].max_abs == 0.0);
  CHECK(b.head_token.rows == 6);
  CHECK(b.head_token.cols == 10);
  CHECK(b.head_token.at(5, 6) == 0.5);
  CHECK(b.head_token.at(5, 5) == 0.0);
  // Causal: row 6 reads keys 0..6, KV tiles 0, 1, 2 (3 keys each); query tile 0 reads no key of tile 3.
  CHECK(b.tiles.rows == 3);
  CHECK(b.tiles.cols == 4);
  for (std::int64_t t = 0; t < 3; ++t) CHECK(b.tiles.at(1, t) == 0.5);
  CHECK(std::isnan(b.tiles.at(0, 2)));  // rows 0-3 see keys 0..3: tiles 0 and 1 only
  CHECK(b.tiles.at(0, 1) == 0.0);
  // 0.5 lies in [10^(-2/4), 10^(-1/4)): bin -2.
  CHECK(b.histogram.first == -2);
  CHECK(b.histogram.counts == std::vector<std::int64_t>{1});
  CHECK(b.histogram.zero == std::int64_t(ref.size() - 1));
  CHECK(b.reference_mean_abs == 1.0);
}

TEST_CASE("breakdown: grids beyond the cell limits are downsampled by max, NaN is non-finite", "[breakdown]") {
  const CaseSpec c = load_one({{"name", "x"}, {"tokens", 600}, {"heads", 1}, {"head_dim", 1}, {"causal", false}});
  std::vector<double> ref(600, 0.25), cand = ref;
  cand[599] = 1.0;
  cand[3] = std::nan("");
  const Breakdown b = compute_breakdown(c, cand, ref);
  CHECK(b.head_token.col_step == 3);  // ceil(600 / 256)
  CHECK(b.head_token.cols == 200);
  CHECK(b.head_token.at(0, 199) == 0.75);
  CHECK(std::isinf(b.head_token.at(0, 1)));  // token 3 is in cell 1
  CHECK(b.head_token.at(0, 0) == 0.0);
  CHECK(b.histogram.nonfinite == 1);
  const json j = breakdown_to_json(b);
  CHECK(j["heatmap_head_token"]["cells"][0][1] == "nonfinite");
  CHECK(j["per_token"]["max_abs"][3] == "nonfinite");
}

TEST_CASE("breakdown: window_off_by_one lights up the tokens beyond the window, and only them", "[breakdown]") {
  // Causal window 4: row i sees keys i-3..i; the mutant also lets it see key i-4, which exists from i = 4 on.
  const CaseSpec c = load_one({{"name", "w"}, {"tokens", 16}, {"heads", 4}, {"head_dim", 64}, {"window", 4}});
  const CaseResult r = run_case(c, mutant_candidate(*find_mutant("window_off_by_one"), 1), {});
  REQUIRE(r.breakdown);
  const Heatmap& h = r.breakdown->head_token;
  double inside = 0, beyond = HUGE_VAL;
  for (std::int64_t head = 0; head < 4; ++head)
    for (std::int64_t i = 0; i < 16; ++i) (i < 4 ? inside = std::max(inside, h.at(head, i)) : beyond = std::min(beyond, h.at(head, i)));
  INFO("largest error of tokens 0-3: " << inside << ", smallest of tokens 4-15: " << beyond);
  CHECK(inside <= *r.naive_vs_golden.max_abs);  // rounding only
  CHECK(beyond > 5 * inside);
}
