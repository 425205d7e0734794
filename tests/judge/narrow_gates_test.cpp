// Gates under a recipe with narrow internals (docs/precision.md, "Recipes with narrow
// accumulators"): min_pass_rate and min_pearson relax to what the correct tiled kernel reaches, not
// the eager reference, which models no narrow accumulator; presets relax to the eager reference.
#include <catch2/catch.hpp>

#include <string>

#include "src/judge/gates.hpp"
#include "tests/judge/gate_helpers.hpp"
#include "src/judge/metrics.hpp"
#include "src/suite/gate_spec.hpp"
#include "src/suite/recipe.hpp"

using namespace attn;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

namespace {

const auto& find = test::find_gate;

Metrics metrics(double max_abs, double pass_rate, double pearson) {
  Metrics m;
  m.elements = 100000;
  m.max_abs = max_abs;
  m.pass_rate = pass_rate;
  m.pearson = pearson;
  return m;
}

}  // namespace

TEST_CASE("narrow gates: pass rate and pearson relax to the tiled kernel's, not the eager reference's", "[gates][recipe]") {
  // fp32+kv=fp16+acc_pv=fp16 on a long decode row: the eager fp32 reference is near exact, the
  // correct fp16-accumulating kernel misses fp16's tolerance on 0.4% of elements.
  std::string err;
  const Recipe ggml = *parse_recipe_text("fp32+kv=fp16+acc_pv=fp16", &err);
  const Metrics naive = metrics(4e-7, 1.0, 1.0), tiled = metrics(3e-3, 0.996, 0.99989);
  auto judge = [&](const Metrics& c, const Metrics* expected, bool narrow) {
    return evaluate_gates(default_gates(ggml), {.vs_golden = c, .naive_vs_golden = naive, .expected_vs_golden = expected,
                                                .golden_max_abs_value = 2.0, .output = DType::f32,
                                                .narrow_internals = narrow});
  };
  // The built-in kernel is its own yardstick: it passes (4 x its own shortfall).
  for (const GateResult& g : judge(tiled, nullptr, true)) CHECK(g.pass);
  const GateResult rate = find(judge(tiled, nullptr, true), "min_pass_rate");
  CHECK_THAT(rate.bound, WithinAbs(1 - 4 * (1 - 0.996), 1e-9));
  CHECK_THAT(rate.note, Contains("1 - 4 x (1 - tiled 0.996)"));
  // Against the eager reference (as a preset would be judged) the same numbers fail.
  CHECK_FALSE(find(judge(tiled, nullptr, false), "min_pass_rate").pass);
  CHECK_FALSE(find(judge(tiled, nullptr, false), "min_pearson").pass);
  // An external candidate near the tiled kernel passes; one with five times its shortfall does not.
  for (const GateResult& g : judge(metrics(3.5e-3, 0.995, 0.99988), &tiled, true)) CHECK(g.pass);
  CHECK_FALSE(find(judge(metrics(3.5e-3, 0.98, 0.99988), &tiled, true), "min_pass_rate").pass);
  CHECK_FALSE(find(judge(metrics(3.5e-3, 0.995, 0.9994), &tiled, true), "min_pearson").pass);
}
