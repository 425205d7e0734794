// The default gates of recipes that are not presets: a narrow scores or accumulator point drops
// max_abs_vs_naive and every rounded point brings its format's looser tolerance, while the five
// presets keep exactly the defaults they had.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "src/suite/gate_spec.hpp"
#include "src/suite/recipe.hpp"

using namespace attn;

namespace {

Recipe recipe(const std::string& text) {
  std::string err;
  const auto r = parse_recipe_text(text, &err);
  INFO(err);
  REQUIRE(r);
  return *r;
}

std::vector<std::string> names(const std::vector<GateSpec>& gates) {
  std::vector<std::string> n;
  for (const GateSpec& g : gates) n.push_back(g.name);
  return n;
}

const GateSpec& gate(const std::vector<GateSpec>& gates, const std::string& name) {
  for (const GateSpec& g : gates)
    if (g.name == name) return g;
  FAIL("no gate " << name);
  return gates.front();
}

}  // namespace

TEST_CASE("recipe gates: presets keep their defaults", "[gates][recipe]") {
  const std::vector<std::string> all = {"max_abs_vs_naive", "max_abs_vs_expected", "min_pearson", "min_pass_rate",
                                        "baseline_growth"};
  struct Row {
    const char* name;
    double k, k_expected, pearson, atol, rtol;
  };
  // The table of src/suite/gate_spec.cpp, unchanged by recipes as data.
  for (const Row& row : {Row{"fp32", 4, 4, 0.99999, 1e-5, 1.3e-6}, Row{"bf16-mixed", 2, 2, 0.999, 1e-2, 1.6e-2},
                         Row{"fp16-mixed", 2, 2, 0.9999, 1e-3, 2e-3}, Row{"fp8-e4m3", 6, 2, 0.99, 5e-2, 5e-2},
                         Row{"int8", 2, 2, 0.999, 2.5e-2, 5e-2}}) {
    INFO(row.name);
    const Recipe r = *recipe_by_name(row.name);
    const auto g = default_gates(r);
    CHECK(names(g) == all);
    CHECK(gate(g, "max_abs_vs_naive").k == row.k);
    CHECK(gate(g, "max_abs_vs_expected").k == row.k_expected);
    CHECK(gate(g, "min_pearson").bound == row.pearson);
    CHECK(gate(g, "min_pass_rate").bound == 0.999);
    CHECK(default_tolerance(r).atol == row.atol);
    CHECK(default_tolerance(r).rtol == row.rtol);
  }
}

TEST_CASE("recipe gates: narrow internals drop max_abs_vs_naive, keep max_abs_vs_expected", "[gates][recipe]") {
  for (const char* text : {"fp32+acc_pv=fp16", "fp32+kv=fp16+acc_pv=fp16", "bf16-mixed+scores=bf16", "fp32+acc_rowsum=bf16"}) {
    INFO(text);
    const Recipe r = recipe(text);
    REQUIRE(r.narrow_internals());
    CHECK(names(default_gates(r)) ==
          std::vector<std::string>{"max_abs_vs_expected", "min_pearson", "min_pass_rate", "baseline_growth"});
  }
  // Inputs, P and the output narrower than the preset are not internals: the eager reference rounds
  // its inputs the same way, so its error stays the yardstick.
  for (const char* text : {"fp32+kv=fp16", "fp32+probs=bf16", "fp32+output=bf16"})
    CHECK(names(default_gates(recipe(text))).front() == "max_abs_vs_naive");
}

TEST_CASE("recipe gates: a point rounded to a coarser format brings that format's tolerance", "[gates][recipe]") {
  // fp32 with an fp16 accumulator is held to fp16-mixed's tolerance and pearson, not fp32's, and
  // keeps fp32's k; bf16-mixed with an fp16 accumulator stays bf16's (the looser of the two).
  const Recipe ggml = recipe("fp32+kv=fp16+acc_pv=fp16");
  CHECK(default_tolerance(ggml).atol == 1e-3);
  CHECK(default_tolerance(ggml).rtol == 2e-3);
  CHECK(gate(default_gates(ggml), "min_pearson").bound == 0.9999);
  CHECK(gate(default_gates(ggml), "max_abs_vs_expected").k == 4);
  const Recipe b = recipe("bf16-mixed+acc_pv=fp16");
  CHECK(default_tolerance(b).atol == 1e-2);
  CHECK(gate(default_gates(b), "min_pearson").bound == 0.999);
  // Inputs alone change no tolerance: golden reads the same rounded inputs.
  CHECK(default_tolerance(recipe("fp32+kv=fp16")).atol == 1e-5);
  CHECK(default_tolerance(recipe("fp32+probs=e5m2")).atol == 5e-2);
  CHECK(default_tolerance(recipe("fp32+output=int8")).atol == 2.5e-2);
}
