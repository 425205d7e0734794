// The regression gate end to end through the CLI: a run against its own report changes nothing;
// a baseline whose errors are made smaller by construction shows the growth and fails; new and
// vanished cases are listed; the gate's bound comes from the config.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "src/report/baseline.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using nlohmann::json;

namespace {

json run_json(const std::string& args, const std::string& out, int expect) {
  const auto r = run_cli(args + " --json " + out);
  INFO(r.out);
  REQUIRE(r.code == expect);
  return json::parse(read_text(out));
}

void write(const std::string& path, const json& j) { std::ofstream(path) << j.dump(2); }

const json& find_case(const json& report, const std::string& name) {
  for (const json& c : report["cases"])
    if (c["name"] == name) return c;
  FAIL("no case " << name);
  return report;
}

}  // namespace

TEST_CASE("baseline: the same run against its own report passes with no change", "[baseline]") {
  TempDir dir("baseline_same");
  const auto base = dir.file("base.json");
  run_json("run -c configs/phase1.json", base, 0);
  const auto r = run_cli("run -c configs/phase1.json --baseline " + base + " --json " + dir.file("now.json"));
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("Δmax_abs") != std::string::npos);
  const json now = json::parse(read_text(dir.file("now.json")));
  for (const json& c : now["cases"]) {
    CHECK(c["baseline"]["max_abs_change"] == 0.0);
    CHECK(c["baseline"]["mae_change"] == 0.0);
    CHECK(c["gates"].back()["name"] == "baseline_growth");
    CHECK(c["gates"].back()["pass"] == true);
  }
  CHECK(now["baseline"]["new"].empty());
  CHECK(now["baseline"]["vanished"].empty());
}

TEST_CASE("baseline: an error grown by half fails with the change shown, new and vanished are listed", "[baseline]") {
  TempDir dir("baseline_grow");
  const auto base = dir.file("base.json");
  json b = run_json("run -c configs/phase1.json", base, 0);
  // Make `causal`'s baseline errors 1/1.5 of today's: today is +50% on it, far above 10% + floor.
  json cases = json::array();
  for (json c : b["cases"]) {
    if (c["name"] == "causal") {
      c["metrics"]["vs_golden"]["max_abs"] = c["metrics"]["vs_golden"]["max_abs"].get<double>() / 1.5;
      c["metrics"]["vs_golden"]["mae"] = c["metrics"]["vs_golden"]["mae"].get<double>() / 1.5;
    }
    if (c["name"] != "basic") cases.push_back(c);  // `basic` is new today
  }
  json gone = cases[0];
  gone["name"] = "retired_case";
  cases.push_back(gone);
  b["cases"] = cases;
  write(base, b);

  const auto out = dir.file("now.json");
  const auto r = run_cli("run -c configs/phase1.json --baseline " + base + " --json " + out);
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("causal: gate baseline_growth: max_abs") != std::string::npos);
  CHECK(r.out.find("+50%") != std::string::npos);
  CHECK(r.out.find("new since the baseline: basic") != std::string::npos);
  CHECK(r.out.find("vanished since the baseline: retired_case") != std::string::npos);
  const json now = json::parse(read_text(out));
  CHECK(now["summary"]["failed"] == 1);
  const json& causal = find_case(now, "causal");
  CHECK(causal["verdict"] == "fail");
  CHECK(causal["baseline"]["max_abs_change"].get<double>() == Approx(0.5));
  CHECK(causal["baseline"]["mae_change"].get<double>() == Approx(0.5));
  CHECK(!find_case(now, "basic").contains("baseline"));
  CHECK(now["baseline"]["new"] == json::array({"basic"}));
  CHECK(now["baseline"]["vanished"] == json::array({"retired_case"}));

  // A config that allows 60% growth lets the same +50% pass; one that switches the gate off too.
  json suite = json::parse(read_text(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json"));
  suite["defaults"]["gates"]["baseline_growth"] = 0.6;
  write(dir.file("loose.json"), suite);
  CHECK(run_cli("run -c " + dir.file("loose.json") + " --baseline " + base).code == 0);
  suite["defaults"]["gates"]["baseline_growth"] = nullptr;
  write(dir.file("off.json"), suite);
  CHECK(run_cli("run -c " + dir.file("off.json") + " --baseline " + base).code == 0);
}

TEST_CASE("baseline: a mutant's error against the correct kernel's baseline fails the gate", "[baseline]") {
  TempDir dir("baseline_mutant");
  const auto base = dir.file("base.json");
  run_json("run -c configs/phase1.json --case basic", base, 0);
  const json now = run_json("run -c configs/phase1.json --case basic --mutant double_scale --baseline " + base,
                            dir.file("now.json"), 1);
  const json& g = now["cases"][0]["gates"].back();
  CHECK(g["name"] == "baseline_growth");
  CHECK(g["pass"] == false);
  CHECK(g["value"].get<double>() > g["bound"].get<double>());
}

TEST_CASE("baseline: a file that is not a report exits 2", "[baseline]") {
  TempDir dir("baseline_bad");
  CHECK(run_cli("run -c configs/phase1.json --baseline " + dir.file("missing.json")).code == 2);
  const auto r = run_cli("run -c configs/phase1.json --baseline " + dir.file("x.json", R"({"schema": "other"})"));
  CHECK(r.code == 2);
  CHECK(r.out.find("attn-diff.report.v1") != std::string::npos);
  CHECK(run_cli("run -c configs/phase1.json --baseline configs/phase1.json").code == 2);
}

TEST_CASE("baseline: change, floor and formatting", "[baseline]") {
  CHECK(attn::relative_change(2.0, 3.0) == Approx(0.5));
  CHECK(attn::relative_change(0.0, 0.0) == 0.0);
  CHECK(!attn::relative_change(0.0, 1.0));
  CHECK(!attn::relative_change(std::nullopt, 1.0));
  using change = std::optional<double>;
  CHECK(attn::format_change(change(0.5)) == "+50%");
  CHECK(attn::format_change(change(-0.031)) == "-3.1%");
  CHECK(attn::format_change(change(0.0)) == "0%");
  CHECK(attn::format_change(change()) == "-");
  CHECK(attn::format_change(nlohmann::json(0.25)) == "+25%");
  CHECK(attn::format_change(nlohmann::json()) == "-");
  // bf16: unit roundoff 2^-8, so 10% of it at max |golden| 2 is 2^-8 * 0.2.
  CHECK(attn::baseline_floor(0.1, attn::DType::bf16, 2.0) == Approx(0.2 / 256));
}
