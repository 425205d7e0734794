// What each precision recipe explains: on the shipped feature and edge-case suites the correct
// tiled kernel's error stays within the eager same-precision reference's, or the recipe says why not.
#include <catch2/catch.hpp>

#include "src/judge/runner.hpp"
#include "src/suite/config.hpp"

using namespace attn;

TEST_CASE("low-precision tiled error is at most the naive error on phase2 and phase3, or explained", "[precision]") {
  for (const char* file : {"/configs/phase2.json", "/configs/phase3.json"}) {
    Suite s;
    Diagnostics d;
    REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + file, {}, &s, &d));
    for (const CaseSpec& c : s.cases) {
      if (c.recipe.name == "fp32") continue;
      const CaseResult r = run_case(c, tiled_candidate(2), {.threads = 2});
      INFO(file << " " << c.name << ": tiled " << *r.vs_golden.max_abs << " naive " << *r.naive_vs_golden.max_abs);
      CHECK(r.verdict == Verdict::pass);
      // int8: both errors are half a step of the output quantisation, whose scale each computation
      // takes from its own output tensor; 0.1% covers the two scales' difference.
      if (c.recipe.note.empty()) CHECK(*r.vs_golden.max_abs <= *r.naive_vs_golden.max_abs * 1.001);
    }
  }
}

TEST_CASE("quantised recipes: inputs are code x scale and the output is int8 codes", "[precision]") {
  const auto doc = nlohmann::json::parse(R"({ "cases": [
      { "name": "q", "precision": "int8", "tokens": 16, "heads": 2, "head_dim": 8, "sinks": 1.5 },
      { "name": "f", "precision": "fp8-e4m3", "tokens": 16, "heads": 2, "head_dim": 8, "inputs": { "std": 100 } } ] })");
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(doc, "t.json", {}, &s, &d));
  PreparedCase q = prepare_case(s.cases[0], 1);
  for (float x : q.inputs.q) CHECK(std::abs(std::nearbyint(x / q.inputs.q_scale)) <= 127);
  CHECK(q.inputs.sinks_scale == 1.5f / 127);
  const CaseResult qr = judge(q, tiled_candidate(1), {});
  CHECK(qr.verdict == Verdict::pass);
  PreparedCase f = prepare_case(s.cases[1], 1);
  float mx = 0;
  for (float x : f.inputs.q) mx = std::max(mx, std::abs(x / f.inputs.q_scale));
  CHECK(mx == 448.0f);  // the per-tensor scale maps the largest |q| onto e4m3's largest value
  for (float x : f.inputs.q) CHECK(round_e4m3(x / f.inputs.q_scale) * f.inputs.q_scale == x);
}
