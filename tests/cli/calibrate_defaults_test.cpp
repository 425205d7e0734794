// `calibrate` prints the default gates of every recipe it ran (issue #18: "calibrate prints the
// defaults per preset"), and `--recipe` takes a preset with overrides as `--precision` does.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "src/suite/gate_spec.hpp"
#include "src/suite/recipe.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_json;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

TEST_CASE("calibrate prints the default gates and tolerance of every recipe it ran", "[calibrate][cli]") {
  const auto r = run_cli("calibrate -q -c configs/phase1.json --case basic --recipe all --variant none --seeds 1 -j 1");
  INFO(r.out);
  CHECK(r.code == 0);
  // fp32's row of src/suite/gate_spec.cpp, as docs/calibration.md states it.
  CHECK_THAT(r.out, Contains("default gates of fp32: max_abs_vs_naive k 4, max_abs_vs_expected k 4, min_pearson 0.99999 "
                             "(k 4), min_pass_rate 0.999 (k 4), baseline_growth 0.1; tolerance atol 1e-05 rtol 1.3e-06\n"));
  CHECK_THAT(r.out, Contains("default gates of bf16-mixed: max_abs_vs_naive k 2, max_abs_vs_expected k 2, min_pearson 0.999 "
                             "(k 2), min_pass_rate 0.999 (k 2), baseline_growth 0.1; tolerance atol 0.01 rtol 0.016\n"));
  for (const std::string& name : attn::recipe_names()) {
    INFO(name);
    const std::string line = "default gates of " + name + ": ";
    const auto at = r.out.find(line);
    CHECK(at != std::string::npos);
    CHECK(r.out.find(line, at + 1) == std::string::npos);  // once per recipe
  }
  // A case under its own recipe: only that recipe's line.
  const auto own = run_cli("calibrate -q -c configs/phase1.json --case basic --variant none --seeds 1 -j 1");
  CHECK(own.code == 0);
  CHECK_THAT(own.out, Contains("default gates of bf16-mixed: "));
  CHECK_THAT(own.out, !Contains("default gates of fp32"));
}

TEST_CASE("calibrate --recipe takes a preset with overrides, named canonically", "[calibrate][cli]") {
  TempDir dir("calibrate_recipe_text");
  const std::string json = dir.file("c.json");
  const auto r = run_cli("calibrate -q -c configs/phase1.json --case basic --recipe fp32+kv=fp16+acc_pv=fp16 "
                         "--variant none --seeds 2 -j 1 --json " + json);
  INFO(r.out);
  CHECK(r.code == 0);
  const std::string canonical = "fp32+k=fp16+v=fp16+acc_pv=fp16";  // kv is the shorthand for k and v
  CHECK_THAT(r.out, Contains("calibration: 1 cases x 2 seeds x 1 kernels"));
  CHECK_THAT(r.out, Contains("(phase1/basic@" + canonical + ")"));
  CHECK(read_json(json)["recipes"] == nlohmann::json::array({canonical}));
  // Its line is the recipe's defaults (whatever they are: src/suite/gate_spec.cpp derives them).
  std::string err;
  const auto recipe = attn::parse_recipe_text(canonical, &err);
  REQUIRE(recipe);
  std::string gates;
  for (const attn::GateSpec& g : attn::default_gates(*recipe)) {
    gates += (gates.empty() ? "" : ", ") + g.name + " ";
    if (g.name == "max_abs_vs_naive" || g.name == "max_abs_vs_expected") gates += fmt::format("k {:g}", g.k);
    else if (g.name == "baseline_growth") gates += fmt::format("{:g}", g.bound);
    else gates += fmt::format("{:g} (k {:g})", g.bound, g.k);
  }
  const attn::Tolerance t = attn::default_tolerance(*recipe);
  CHECK_THAT(r.out, Contains(fmt::format("default gates of {}: {}; tolerance atol {:g} rtol {:g}\n", canonical, gates, t.atol,
                                         t.rtol)));
  // The same recipe spelt twice runs once; a bad override is refused before anything runs.
  const auto twice = run_cli("calibrate -q -c configs/phase1.json --case basic --recipe fp32+kv=fp16+acc_pv=fp16 "
                             "--recipe fp32+k=fp16+v=fp16+acc_pv=fp16 --variant none --seeds 1 -j 1");
  CHECK(twice.code == 0);
  CHECK_THAT(twice.out, Contains("calibration: 1 cases x 1 seeds x 1 kernels"));
  const auto bad = run_cli("calibrate -q -c configs/phase1.json --recipe fp32+acc_pv=fp64 --seeds 1");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.out, Contains("acc_pv"));
}
