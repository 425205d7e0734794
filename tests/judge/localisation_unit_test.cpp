// The localiser (src/judge/localisation.hpp) on error arrays whose answer is known by construction: a
// golden of random values, naive and tiled off by tiny noise, and a candidate with error injected
// only where the test puts it.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "src/judge/localisation.hpp"

using namespace attn;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {

struct Synthetic {
  CaseSpec spec;
  std::vector<double> golden, naive, tiled, candidate;

  Synthetic(std::int64_t B, std::int64_t Sq, std::int64_t H, std::int64_t Hkv, std::int64_t D, bool causal = false) {
    spec.problem.shape = {.batch = B, .tokens = Sq, .kv_tokens = Sq, .heads = H, .kv_heads = Hkv, .head_dim = D};
    spec.problem.causal = causal;
    spec.tiles = {.q = 16, .kv = 16};
    std::mt19937_64 rng(42);
    std::normal_distribution<double> n(0.0, 1.0);
    for (std::int64_t e = 0; e < B * Sq * H * D; ++e) golden.push_back(n(rng));
    for (double g : golden) naive.push_back(g + 1e-7 * n(rng)), tiled.push_back(g + 1e-7 * n(rng));
    for (double g : golden) candidate.push_back(g + 1e-7 * n(rng));
  }
  // Adds `e` to the candidate's elements where `where(b, i, h, d)` holds.
  void inject(double e, const std::function<bool(std::int64_t, std::int64_t, std::int64_t, std::int64_t)>& where) {
    const Shape& s = spec.problem.shape;
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t i = 0; i < s.tokens; ++i)
        for (std::int64_t h = 0; h < s.heads; ++h)
          for (std::int64_t d = 0; d < s.head_dim; ++d)
            if (where(b, i, h, d)) candidate[std::size_t(bshd(b, i, h, d, s.tokens, s.heads, s.head_dim))] += e;
  }
  Localisation run() const {
    return localise({.spec = spec, .candidate = candidate, .golden = golden, .naive = naive, .tiled = tiled,
                     .k_naive = 2.0, .k_tiled = 2.0, .floor = 1e-9});
  }
};

const LocalisationFinding& axis(const Localisation& l, const std::string& name) {
  for (const LocalisationFinding& f : l.findings)
    if (f.axis == name) return f;
  FAIL("no finding on axis " << name);
  return l.findings.front();
}

std::vector<std::pair<std::int64_t, std::int64_t>> ranges(const LocalisationFinding& f) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const SliceRange& r : f.ranges) out.push_back({r.lo, r.hi});
  return out;
}

}  // namespace

TEST_CASE("localisation: error injected only in head 3 is 'head 3', all tokens and columns", "[localisation]") {
  Synthetic s(1, 32, 8, 2, 16);
  s.inject(0.01, [](auto, auto, auto h, auto) { return h == 3; });
  const Localisation l = s.run();
  INFO(l.summary);
  CHECK(l.located);
  CHECK_FALSE(l.spread);
  CHECK_THAT(l.summary, Contains("error confined to head 3 (in kv head 0 of 2, whose query heads are 0–3)"));
  CHECK_THAT(l.summary, Contains("all query tokens, all head-dim columns; elsewhere within precision"));
  CHECK(ranges(axis(l, "head")) == std::vector<std::pair<std::int64_t, std::int64_t>>{{3, 3}});
  CHECK(ranges(axis(l, "kv_head")) == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 0}});
  CHECK(axis(l, "query_token").all);
  CHECK(axis(l, "column").all);
}

TEST_CASE("localisation: a whole kv group is named as such", "[localisation]") {
  Synthetic s(2, 32, 8, 2, 16);
  s.inject(0.5, [](auto, auto, auto h, auto) { return h >= 4; });
  const Localisation l = s.run();
  INFO(l.summary);
  CHECK_THAT(l.summary, Contains("heads 4–7 (kv head 1 of 2)"));
  CHECK_THAT(l.summary, Contains("all batch elements"));
}

TEST_CASE("localisation: error everywhere is 'spread' and nothing else", "[localisation]") {
  Synthetic s(1, 32, 4, 4, 8);
  s.inject(0.01, [](auto, auto, auto, auto) { return true; });
  const Localisation l = s.run();
  CHECK(l.spread);
  CHECK_THAT(l.summary, Equals("error spread over all heads, query tokens and head-dim columns"));
  CHECK(l.checks.empty());
  CHECK(localisation_lines(l) == std::vector<std::string>{l.summary});
}

TEST_CASE("localisation: within the envelope everywhere claims nothing", "[localisation]") {
  Synthetic s(2, 32, 4, 2, 8);
  const Localisation l = s.run();  // candidate noise like naive's and tiled's: within 2x + floor
  CHECK_FALSE(l.located);
  CHECK_THAT(l.summary, Contains("the failure is not localised"));
  CHECK(l.checks.empty());
  for (const LocalisationFinding& f : l.findings) {
    CHECK(f.ranges.empty());
    CHECK(f.text == "none out of precision");
  }
}

TEST_CASE("localisation: batch, whole query tiles, token runs and columns", "[localisation]") {
  SECTION("batch 1 only") {
    Synthetic s(3, 32, 2, 1, 8);
    s.inject(0.1, [](auto b, auto, auto, auto) { return b == 1; });
    CHECK_THAT(s.run().summary, Contains("error confined to batch 1 (of 3); all heads"));
  }
  SECTION("a whole query tile is named as the tile") {
    Synthetic s(1, 64, 2, 1, 8);
    s.inject(0.1, [](auto, auto i, auto, auto) { return i >= 16 && i < 32; });
    CHECK_THAT(s.run().summary, Contains("query tile 1 of 4 (query tokens 16–31)"));
  }
  SECTION("token runs") {
    Synthetic s(1, 64, 2, 1, 8);
    s.inject(0.1, [](auto, auto i, auto, auto) { return (i >= 3 && i <= 5) || i == 40; });
    CHECK_THAT(s.run().summary, Contains("query tokens 3–5, 40 (of 64)"));
  }
  SECTION("head-dim columns 0–3, and a column that is golden scaled") {
    Synthetic s(1, 32, 2, 1, 16);
    s.inject(0.1, [](auto, auto, auto, auto d) { return d < 4; });
    const Localisation l = s.run();
    CHECK_THAT(l.summary, Contains("error confined to head-dim columns 0–3 (of 16)"));
    for (const StructuralCheck& c : l.checks) CHECK(c.name != "column_scale");  // an offset, not a scale

    Synthetic t(1, 32, 2, 1, 16);
    for (std::int64_t r = 0; r < 32 * 2; ++r) t.candidate[std::size_t(r * 16 + 5)] = 2.0 * t.golden[std::size_t(r * 16 + 5)];
    const Localisation m = t.run();
    CHECK_THAT(m.summary, Contains("head-dim column 5 (of 16)"));
    REQUIRE(m.checks.size() == 1);
    CHECK(m.checks[0].name == "column_scale");
    CHECK_THAT(m.checks[0].text, Contains("in head-dim column 5 the candidate is golden times one constant per column (2)"));
  }
  SECTION("a non-finite candidate element is out of precision where it is") {
    Synthetic s(1, 32, 4, 4, 8);
    s.candidate[std::size_t(bshd(0, 7, 2, 1, 32, 4, 8))] = std::nan("");
    CHECK_THAT(s.run().summary, Contains("error confined to head 2 (of 4), query token 7 (of 32), head-dim column 1 (of 8)"));
  }
}

TEST_CASE("localisation: structural checks hold only when the data shows them", "[localisation]") {
  SECTION("rows with one visible key within precision (causal: query token 0)") {
    Synthetic s(1, 32, 2, 1, 8, /*causal=*/true);
    s.inject(0.1, [](auto, auto i, auto h, auto) { return i > 0 && h == 1; });
    const Localisation l = s.run();
    INFO(l.summary);
    REQUIRE_FALSE(l.checks.empty());
    CHECK(l.checks[0].name == "one_key_rows");
    CHECK_THAT(l.checks[0].text, Equals("rows whose window holds one key (query token 0) are within precision"));
  }
  SECTION("an error that grows with the visible keys") {
    Synthetic s(1, 32, 2, 1, 8, /*causal=*/true);
    s.inject(0.0, [](auto, auto, auto, auto) { return false; });
    for (std::int64_t i = 0; i < 32; ++i)
      s.candidate[std::size_t(bshd(0, i, 0, 0, 32, 2, 8))] += 1e-3 * double(i + 1);  // row i sees i + 1 keys
    const Localisation l = s.run();
    bool grows = false;
    for (const StructuralCheck& c : l.checks) grows = grows || c.name == "grows_with_keys";
    CHECK(grows);
  }
  SECTION("a per-row scale (a normaliser bug) in head 1") {
    Synthetic s(1, 32, 2, 1, 8);
    const Shape& sh = s.spec.problem.shape;
    for (std::int64_t i = 0; i < 32; ++i)
      for (std::int64_t d = 0; d < 8; ++d) {
        const std::size_t e = std::size_t(bshd(0, i, 1, d, sh.tokens, sh.heads, sh.head_dim));
        s.candidate[e] = s.golden[e] * (1.0 + 0.01 * double(i % 5 + 1));
      }
    const Localisation l = s.run();
    INFO(l.summary);
    bool row = false;
    for (const StructuralCheck& c : l.checks)
      if (c.name == "row_scale") {
        row = true;
        CHECK_THAT(c.text, Contains("in 32 of 32 rows out of precision"));
      }
    CHECK(row);
  }
  SECTION("an offset is no per-row scale, and no causal mask means no one-key rows") {
    Synthetic s(1, 32, 2, 1, 8);
    s.inject(0.1, [](auto, auto, auto h, auto) { return h == 1; });
    CHECK(s.run().checks.empty());
  }
}

TEST_CASE("localisation: the JSON form", "[localisation]") {
  Synthetic s(1, 32, 8, 2, 16);
  s.inject(0.5, [](auto, auto, auto h, auto) { return h >= 4; });
  const nlohmann::json j = localisation_to_json(s.run());
  CHECK(j.at("located") == true);
  CHECK(j.at("spread") == false);
  bool head = false;
  for (const auto& f : j.at("findings"))
    if (f.at("axis") == "head") {
      head = true;
      CHECK(f.at("ranges") == nlohmann::json::parse("[[4,7]]"));
      CHECK(f.at("of") == 8);
    }
  CHECK(head);
  CHECK(localisation_lines(nlohmann::json{{"localisation", j}}).front() == j.at("summary"));
  CHECK(localisation_lines(nlohmann::json{{"name", "x"}}).empty());
}
