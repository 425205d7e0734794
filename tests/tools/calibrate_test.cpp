// src/tools/calibrate.hpp without the command line: the use of a bound, the kernels, the jobs of a
// plan (under a recipe too), one small run with its progress, and how each kind of margin row is
// rendered from a Calibration written by hand.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "kernels/variants.hpp"
#include "src/tools/calibrate.hpp"

using namespace attn;

namespace {

const std::string kPhase1 = std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json";

}  // namespace

TEST_CASE("gate_utilisation: the share of a bound a value uses, for upper and lower bounds", "[calibrate]") {
  CHECK(gate_utilisation(0.5, 2.0, false) == 0.25);
  CHECK(gate_utilisation(2.0, 2.0, false) == 1.0);
  CHECK(gate_utilisation(0.0, 0.0, false) == 0.0);
  CHECK(std::isinf(gate_utilisation(1e-9, 0.0, false)));
  // Lower bounds on quantities at most 1: the distance to 1 against the allowed distance.
  CHECK(gate_utilisation(0.999, 0.99, true) == Approx(0.1));
  CHECK(gate_utilisation(0.99, 0.99, true) == Approx(1.0));
  CHECK(gate_utilisation(1.0, 1.0, true) == 0.0);
  CHECK(std::isinf(gate_utilisation(0.5, 1.0, true)));
}

TEST_CASE("calibration_kernels: the tiled kernel first, then the variants asked for in table order", "[calibrate]") {
  CHECK(calibration_kernels({}).size() == 1 + variants().size());
  CHECK(calibration_kernels({}).front().kernel == "tiled");
  REQUIRE(calibration_kernels({"none"}).size() == 1);
  const std::vector<Candidate> two = calibration_kernels({"split_kv", "eager"});
  REQUIRE(two.size() == 3);
  CHECK(two[1].kernel == "variant:eager");  // the table's order, not the request's
  CHECK(two[2].kernel == "variant:split_kv");
}

TEST_CASE("calibration_jobs: the selected cases, under each recipe when asked, and an unloadable config as a message", "[calibrate]") {
  CalibrationJobs own;
  std::string err;
  REQUIRE(calibration_jobs({.configs = {kPhase1}, .selected = [](const std::string& n) { return n == "basic"; }}, &own, &err));
  REQUIRE(own.jobs.size() == 1);
  CHECK(own.jobs[0].suite == "phase1");
  CHECK(own.jobs[0].spec.name == "basic");
  CHECK(own.jobs[0].group == own.jobs[0].spec.recipe.name);

  CalibrationJobs under;
  REQUIRE(calibration_jobs({.configs = {kPhase1}, .recipes = {"fp32", "fp16-mixed"},
                            .selected = [](const std::string& n) { return n == "basic" || n == "causal@fp32"; }},
                           &under, &err));
  REQUIRE(under.jobs.size() == 3);  // basic under both, causal under fp32 only
  CHECK(under.jobs[0].spec.name == "basic@fp32");
  CHECK(under.jobs[0].spec.recipe.name == "fp32");
  CHECK(under.jobs[0].group == "fp32");
  CHECK(under.jobs[1].spec.name == "causal@fp32");
  CHECK(under.jobs[2].spec.name == "basic@fp16-mixed");

  CalibrationJobs none;
  CHECK(!calibration_jobs({.configs = {kPhase1 + ".missing"}}, &none, &err));
  CHECK(err.find("phase1.json.missing") != std::string::npos);
}

TEST_CASE("run_calibration: one case over two seeds on the tiled kernel, with its progress", "[calibrate]") {
  const CalibrationPlan plan{.configs = {kPhase1}, .selected = [](const std::string& n) { return n == "basic"; }, .seeds = 2,
                             .threads = 2};
  CalibrationJobs jobs;
  std::string err;
  REQUIRE(calibration_jobs(plan, &jobs, &err));
  std::vector<int> seeds_done;
  std::int64_t last_done = 0, total = 0;
  const Calibration cal = run_calibration(plan, jobs, calibration_kernels({"none"}), [&](const CalibrationProgress& p) {
    CHECK(p.job == &jobs.jobs[0]);
    seeds_done.push_back(p.seeds_done);
    last_done = p.done;
    total = p.total;
  });
  std::sort(seeds_done.begin(), seeds_done.end());
  CHECK(seeds_done == std::vector<int>{1, 2});
  CHECK(last_done == 2);
  CHECK(total == 2);
  CHECK(cal.cases == 1);
  CHECK(cal.seeds == 2);
  CHECK(cal.kernels == std::vector<std::string>{"tiled"});
  CHECK(cal.false_alarms == 0);  // the correct kernel on its own suite
  CHECK(cal.alarms.empty());
  REQUIRE(!cal.order.empty());
  for (const Calibration::Key& k : cal.order) {
    CHECK(std::get<0>(k) == jobs.jobs[0].group);
    CHECK(std::get<1>(k) == "tiled");
  }
  REQUIRE(cal.case_order.size() == cal.order.size());  // one case: the same rows per case
  CHECK(std::get<0>(cal.case_order[0]) == "phase1/basic");
  CHECK(cal.worst_utilisation <= 1.0);
  CHECK(calibration_summary(cal).starts_with("calibration: 1 cases x 2 seeds x 1 kernels, worst use of a bound "));
}

TEST_CASE("margins render each kind of row: measured, skipped, unsupported, failed without a value or a gate", "[calibrate]") {
  Calibration cal{.seeds = 3, .cases = 2, .kernels = {"tiled", "variant:x"}};
  const Calibration::Key measured{"fp32", "tiled", "max_abs_vs_naive"}, skipped{"fp32", "tiled", "min_pearson"},
      unsupported{"fp32", "variant:x", "unsupported"}, no_value{"fp32", "variant:x", "max_abs_vs_naive"},
      unexplained{"fp32", "variant:x", "verdict"};
  cal.order = {measured, skipped, unsupported, no_value, unexplained};
  cal.margins[measured] = {.utilisation = 0.5, .seed = 2, .value = 0.25, .bound = 0.5, .evaluated = 3, .at_case = "s/a", .note = "n"};
  cal.margins[skipped] = {};
  cal.margins[unsupported] = {};
  cal.margins[no_value] = {.seed = 1, .failed = 2, .at_case = "s/b"};
  cal.margins[unexplained] = {.failed = 1};
  cal.notes = {{skipped, "constant output"}, {unsupported, "needs float scores"}, {no_value, "no value"}};
  cal.alarms = {{"s/b", "variant:x", 1, "max_abs_vs_naive: inf > 0.5"}};
  cal.alarms_by_kernel = {{"variant:x", 3}};
  cal.false_alarms = 3;
  cal.worst_utilisation = 0.5;

  const std::string table = margins_table(cal);
  CHECK(table.find("0.500  seed 2     value 0.25        bound 0.5          (s/a)\n") != std::string::npos);
  CHECK(table.find("skipped: constant output\n") != std::string::npos);
  CHECK(table.find("unsupported: needs float scores\n") != std::string::npos);
  CHECK(table.find("FAILED x2: no value  (s/b seed 1)\n") != std::string::npos);
  CHECK(table.find("FAILED x1 (no gate: see the list below)\n") != std::string::npos);
  CHECK(alarms_text(cal) == "false alarm: s/b [variant:x] seed 1: max_abs_vs_naive: inf > 0.5\n");
  CHECK(calibration_summary(cal).ends_with("failing runs per kernel: tiled 0, variant:x 3\n"));

  const std::string md = calibration_markdown(cal);
  CHECK(md.starts_with("| recipe | kernel | gate | worst use of the bound |"));
  CHECK(md.find("| fp32 | tiled | max_abs_vs_naive | 0.500 | 2 | 0.25 | 0.5 | 0 | s/a |\n") != std::string::npos);
  CHECK(md.find("| fp32 | variant:x | verdict | failed without a gate | | | | | 1 |\n") != std::string::npos);
  CHECK(md.ends_with(alarms_text(cal) + calibration_summary(cal)));

  const nlohmann::json j = calibration_json(cal);
  const nlohmann::json& rows = j.at("margins");
  REQUIRE(rows.size() == 4);  // a skipped row is left out of the JSON
  CHECK(rows[0].at("utilisation") == 0.5);
  CHECK(rows[1].at("unsupported") == "needs float scores");
  CHECK(rows[2].at("failed") == 2);
  CHECK(rows[2].at("note") == "no value");
  CHECK(rows[3].at("gate") == "verdict");
  CHECK(j.at("false_alarms") == 3);
  CHECK(j.at("alarms").size() == 1);
}
