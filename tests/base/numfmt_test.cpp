// Value and bound in a gate failure line get the digits that tell them apart (src/base/numfmt.hpp):
// `0.999 < 0.999` was printed for a pass rate of 0.99896 against min_pass_rate 0.999.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "src/base/numfmt.hpp"
#include "src/io/npy.hpp"
#include "tests/cli_helpers.hpp"

using attn::comparison_text;
using attn::distinct_digits;
using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;

TEST_CASE("distinct_digits: the fewest digits from 4 to 17 at which value and bound differ", "[numfmt]") {
  using P = std::pair<std::string, std::string>;
  CHECK(distinct_digits(0.99896240234375, 0.999) == P{"0.99896", "0.999"});
  CHECK(distinct_digits(0.99875, 0.999) == P{"0.9988", "0.999"});  // 4 digits already differ
  CHECK(distinct_digits(2.031, 0.04249) == P{"2.031", "0.04249"});  // the lines as before
  CHECK(distinct_digits(0.0, 0.999) == P{"0", "0.999"});
  CHECK(distinct_digits(0.99999999, 1.0) == P{"0.99999999", "1"});
  // Neighbouring doubles need up to 17 digits.
  CHECK(distinct_digits(std::nextafter(0.1, 0.0), 0.1) == P{"0.09999999999999999", "0.1"});
  CHECK(distinct_digits(std::nextafter(1.0, 2.0), 1.0) == P{"1.0000000000000002", "1"});
  // Equal numbers keep the short form.
  CHECK(distinct_digits(0.5, 0.5) == P{"0.5", "0.5"});
  CHECK(distinct_digits(std::nan(""), 0.5) == P{"nan", "0.5"});
  CHECK(distinct_digits(std::numeric_limits<double>::infinity(), 1e300) == P{"inf", "1e+300"});
}

TEST_CASE("distinct_digits: the texts order as the numbers do", "[numfmt]") {
  // Rounding both to the same number of digits is monotonic: a value below its bound never prints above it.
  for (double bound : {0.999, 0.9999, 1e-5, 0.0425, 123.456}) {
    for (double step : {1e-3, 1e-6, 1e-9, 1e-12, 1e-15}) {
      const double value = bound * (1 - step);
      const auto [v, b] = distinct_digits(value, bound);
      INFO(value << " vs " << bound << ": " << v << " vs " << b);
      CHECK(v != b);
      CHECK(std::stod(v) < std::stod(b));
    }
  }
}

TEST_CASE("comparison_text joins value, operator and bound", "[numfmt]") {
  CHECK(comparison_text(0.99896240234375, "<", 0.999) == "0.99896 < 0.999");
  CHECK(comparison_text(2.031, ">", 0.04249) == "2.031 > 0.04249");
}

TEST_CASE("a min_pass_rate failure prints the digits that show why, in the table, JUnit and Markdown", "[numfmt][cli]") {
  // 32768 elements, 34 of them moved outside fp32's tolerance (atol 1e-5): pass rate 0.99896.
  // min_pass_rate 0.999 allows ceil(0.001 × 32768) = 33 out, i.e. a bound of 1 − 33/32768 =
  // 0.99899: the line was "gate min_pass_rate: 0.999 < 0.999", hiding both numbers. The eager
  // reference passes every element (fp32 error ~1e-7), so the bound is not relaxed by its rate.
  TempDir dir("numfmt_pass_rate");
  const std::string suite = dir.file("suite.json", R"({"suite": "pr", "cases": [{"name": "pr", "batch": 1, "tokens": 64,
    "kv_tokens": 64, "heads": 8, "kv_heads": 8, "head_dim": 64, "causal": true, "precision": "fp32",
    "gates": {"min_pass_rate": 0.999, "max_abs_vs_naive": null, "max_abs_vs_expected": null}}]})");
  const std::string dump = dir.path.string() + "/dump";
  REQUIRE(run_cli("dump --config '" + suite + "' --case pr --out '" + dump + "'").code == 0);
  attn::Array golden;
  std::string err;
  REQUIRE(attn::read_npy(dump + "/golden.npy", &golden, &err));
  for (std::size_t n = 0; n < 34; ++n) golden.values[n * 911] += 2e-5;
  const std::vector<float> cand(golden.values.begin(), golden.values.end());
  const std::string cand_file = dir.file("cand.npy");
  REQUIRE(attn::write_npy_f32(cand_file, golden.shape, cand, &err));

  const std::string json_file = dir.file("r.json"), junit = dir.file("r.xml"), md = dir.file("r.md"), html = dir.file("r.html");
  const auto r = run_cli("compare --inputs '" + dump + "' --candidate '" + cand_file + "' --json '" + json_file +
                         "' --junit '" + junit + "' --md '" + md + "' --html '" + html + "'");
  INFO(r.out);
  REQUIRE(r.code == 1);
  const json report = json::parse(read_text(json_file));
  const double rate = report["cases"][0]["metrics"]["vs_golden"]["pass_rate"].get<double>();
  REQUIRE(rate == 32734.0 / 32768.0);  // 0.99896240234375
  json gate;
  for (const json& g : report["cases"][0]["gates"])
    if (g["name"] == "min_pass_rate") gate = g;
  REQUIRE(gate["bound"].get<double>() == 1.0 - 33.0 / 32768.0);  // 0.998992919921875
  CHECK_THAT(r.out, Contains("pr: gate min_pass_rate: 0.99896 < 0.99899"));
  CHECK(report["cases"][0]["failures"][0] == "gate min_pass_rate: 0.99896 < 0.99899");
  CHECK_THAT(read_text(junit), Contains("gate min_pass_rate: 0.99896 &lt; 0.99899"));
  CHECK_THAT(read_text(md), Contains("gate min\\_pass\\_rate: 0.99896 \\< 0.99899"));
  CHECK_THAT(read_text(html), Contains("<td>min_pass_rate</td><td class=\"n\">0.99896</td><td class=\"n\">0.99899</td>"));
}

TEST_CASE("a baseline_growth failure shows the value and the bound it passed, told apart", "[numfmt][cli]") {
  // acc_bf16 passes every phase-1 gate but grows the error past the correct kernel's baseline.
  TempDir dir("numfmt_baseline");
  const std::string base = dir.file("base.json"), now = dir.file("now.json");
  REQUIRE(run_cli("run -c configs/phase1.json --case basic -q --json " + base).code == 0);
  const auto r = run_cli("run -c configs/phase1.json --case basic --mutant acc_bf16 --baseline " + base + " --json " + now);
  INFO(r.out);
  REQUIRE(r.code == 1);
  const json c = json::parse(read_text(now))["cases"][0];
  json gate;
  for (const json& g : c["gates"])
    if (g["name"] == "baseline_growth") gate = g;
  REQUIRE(gate["pass"] == false);
  const double value = gate["value"].get<double>(), bound = gate["bound"].get<double>();
  REQUIRE(value > bound);
  const auto [v, b] = distinct_digits(value, bound);
  // max_abs speaks for the gate here (it grew most): "max_abs NOW vs BEFORE (+N%; allowed BOUND: +10% + FLOOR)".
  CHECK(value == c["metrics"]["vs_golden"]["max_abs"].get<double>());
  CHECK_THAT(r.out, Contains("basic: gate baseline_growth: max_abs " + v + " vs "));
  CHECK_THAT(r.out, Contains("; allowed " + b + ": +10% + "));
}
