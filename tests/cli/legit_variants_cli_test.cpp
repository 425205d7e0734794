// The legitimate variants (kernels/variants.hpp) as users' kernels: through --candidate-cmd on the
// shipped suites, where every one must pass, and through `calibrate`, which judges them next to the
// tiled kernel under each case's own recipe and under every recipe (--recipe).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <set>

#include "kernels/variants.hpp"
#include "src/suite/recipe.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

std::string variant_cmd(const std::string& name) {
  return "--candidate-cmd '" + std::string(ATTN_DIFF_CANDIDATE) + " variant:" + name + " {inputs} {out}'";
}

}  // namespace

TEST_CASE("legitimate variants pass phase1 and the hard phase2/phase3 cases as external candidates",
          "[variants][cli]") {
  for (const attn::VariantInfo& v : attn::variants()) {
    INFO(v.name);
    auto r = run_cli("run -q -c configs/phase1.json " + variant_cmd(v.name));
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("8 cases, 8 passed, 0 failed"));
    // large_magnitude and outliers failed for eager and scores_lowp before the gate rule.
    r = run_cli("run -q -c configs/phase3.json --case large_magnitude --case outliers --case sinks_plus_30 "
                "--case decode_1_token_long_kv_window --case empty_rows_sinks " + variant_cmd(v.name));
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("5 cases, 5 passed, 0 failed"));
    r = run_cli("run -q -c configs/phase2.json --case combo_fp8-e4m3 --case combo_int8 --case combo_full_fp16-mixed "
                "--case combo_finite_mask_bf16 --case combo_full_fp32 " + variant_cmd(v.name));
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("5 cases, 5 passed, 0 failed"));
  }
  const auto bad = run_cli("run -q -c configs/phase1.json --case basic " + variant_cmd("nope"));
  CHECK(bad.code == 3);  // the candidate refuses an unknown variant: a runtime failure of the case
}

TEST_CASE("calibrate judges every variant next to the tiled kernel and names the worst case", "[variants][cli][calibrate]") {
  TempDir dir("calibrate_variants");
  const std::string json = dir.file("c.json"), md = dir.file("c.md");
  const auto r = run_cli("calibrate -q -c configs/phase3.json --case large_magnitude --case outliers --seeds 2 -j 2 --json " +
                         json + " --md " + md);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("calibration: 2 cases x 2 seeds x " + std::to_string(attn::variants().size() + 1) + " kernels"));
  CHECK_THAT(r.out, Contains(", 0 false alarms"));
  const auto j = nlohmann::json::parse(read_text(json));
  std::set<std::string> kernels, judged;
  for (const auto& k : j["kernels"]) kernels.insert(k.get<std::string>());
  CHECK(kernels.count("tiled"));
  for (const attn::VariantInfo& v : attn::variants()) CHECK(kernels.count("variant:" + v.name));
  for (const auto& m : j["margins"]) {
    CHECK(m["case"] == "bf16-mixed");  // grouped per recipe
    if (m.contains("utilisation")) {
      judged.insert(m["kernel"].get<std::string>() + " " + m["gate"].get<std::string>());
      CHECK(m["at_case"].get<std::string>().starts_with("phase3/"));
      CHECK(m["utilisation"].get<double>() <= 1.0);
      CHECK(!m["note"].is_null());
    }
  }
  CHECK(judged.count("variant:eager max_abs_vs_expected"));
  CHECK(judged.count("variant:split_kv min_pass_rate"));
  CHECK(judged.count("tiled min_pass_rate"));
  CHECK(!judged.count("tiled max_abs_vs_expected"));  // its own yardstick
  CHECK(!j["case_margins"].empty());
  CHECK_THAT(read_text(md), Contains("| bf16-mixed | variant:eager | max_abs_vs_expected |"));
}

TEST_CASE("calibrate --recipe runs every case under other recipes with their defaults", "[variants][cli][calibrate]") {
  TempDir dir("calibrate_recipes");
  const std::string json = dir.file("c.json");
  // phase3 large_magnitude and outliers in fp32: the tiled kernel itself failed min_pass_rate
  // (torch's atol 1e-5) before fp32's pass-rate bound was calibrated on them.
  auto r = run_cli("calibrate -q -c configs/phase3.json --case large_magnitude --case outliers --case sinks_plus_30 "
                   "--recipe fp32 --recipe fp16-mixed --recipe fp8-e4m3 --seeds 2 -j 2 --json " + json);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("calibration: 9 cases x 2 seeds"));
  CHECK_THAT(r.out, Contains(", 0 false alarms"));
  const auto j = nlohmann::json::parse(read_text(json));
  std::set<std::string> groups;
  for (const auto& m : j["margins"]) groups.insert(m["case"].get<std::string>());
  CHECK(groups == std::set<std::string>{"fp32", "fp16-mixed", "fp8-e4m3"});
  CHECK_THAT(r.out, Contains("(phase3/outliers@fp32)"));
  r = run_cli("calibrate -q -c configs/phase1.json --case basic --recipe all --variant none --seeds 1");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("calibration: " + std::to_string(attn::recipe_names().size()) + " cases x 1 seeds x 1 kernels"));
  for (const std::string& recipe : attn::recipe_names()) CHECK_THAT(r.out, Contains("(phase1/basic@" + recipe + ")"));
  CHECK(run_cli("calibrate -q --grid edges --recipe fp32 --seeds 1").code == 2);
  CHECK(run_cli("calibrate -q -c configs/phase1.json --recipe fp64 --seeds 1").code == 2);
  CHECK(run_cli("calibrate -q -c configs/phase1.json --variant none --variant eager --seeds 1").code == 2);
}
