// Visibility rules of SPEC §2, checked pair by pair against the spec's own wording.
#include <catch2/catch.hpp>

#include "src/suite/problem.hpp"
#include "tests/test_util.hpp"

using namespace attn;

TEST_CASE("visible_keys matches the spec's rule for every pair", "[problem]") {
  for (bool causal : {true, false})
    for (std::int64_t W : {0, 1, 2, 3, 7})
      for (std::int64_t Sk : {1, 5, 9})
        for (std::int64_t Sq = 1; Sq <= Sk; Sq += 2) {
          const Problem p = test::make_problem(1, Sq, Sk, 1, 1, 1, causal, W, false);
          for (std::int64_t i = 0; i < Sq; ++i) {
            const auto r = p.visible_keys(i);
            const std::int64_t pos = Sk - Sq + i;
            for (std::int64_t j = 0; j < Sk; ++j) {
              bool vis = true;
              if (causal) vis = j <= pos && (W == 0 || j > pos - W);
              else if (W > 0) vis = std::llabs(pos - j) < W;
              INFO("causal " << causal << " W " << W << " Sq " << Sq << " Sk " << Sk << " i " << i << " j " << j);
              CHECK(vis == (j >= r.lo && j < r.hi));
            }
          }
        }
}

TEST_CASE("a window of W sees at most W keys including the query", "[problem]") {
  const Problem p = test::make_problem(1, 16, 16, 1, 1, 1, true, 4, false);
  CHECK(p.visible_keys(0).size() == 1);
  CHECK(p.visible_keys(3).size() == 4);
  CHECK(p.visible_keys(15).lo == 12);
  CHECK(p.visible_keys(15).hi == 16);
}

TEST_CASE("rows with no visible key are counted", "[problem]") {
  Problem p = test::make_problem(1, 3, 6, 1, 1, 1, true, 0, false);
  CHECK(p.empty_rows() == 0);
  CHECK(p.visible_pairs() == 4 + 5 + 6);
  p.shape.q_offset = -2;  // positions -2, -1, 0: two rows before every key
  CHECK(p.empty_rows() == 2);
  CHECK(p.visible_pairs() == 1);
  p.causal = false;  // without causality every row sees every key
  CHECK(p.empty_rows() == 0);
  p.window = 2;  // non-causal window: |p - j| < 2 reaches key 0 only from positions -1 and 0
  CHECK(p.empty_rows() == 1);
}
