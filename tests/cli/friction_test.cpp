// What a new user met (issue 14): `validate` lists the cases, a non-finite candidate value is
// located, and an external command's wall time and output stay in the report when it succeeds.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const std::string kCandidate = ATTN_DIFF_CANDIDATE;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> phase1_names() {
  std::vector<std::string> names;
  const json suite = json::parse(read_text(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json"));
  for (const json& c : suite["cases"]) names.push_back(c["name"]);
  return names;
}

}  // namespace

TEST_CASE("validate lists the case names with shape, features and recipe, and --names the names alone", "[friction][cli]") {
  auto r = run_cli("validate -c configs/phase1.json");
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto lines = lines_of(r.out);
  const auto names = phase1_names();
  REQUIRE(lines.size() == names.size() + 1);
  CHECK(lines[0] == "configs/phase1.json: ok, 8 cases");
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(lines[i + 1].starts_with("  " + names[i] + " "));
  // The run table's columns for the case: 1x8/8x2/2x64, causal, sinks, 4x3 tiles, bf16-mixed.
  CHECK_THAT(lines.back(), Contains("1x8/8x2/2x64") && Contains("causal sinks t4x3") && Contains("bf16-mixed"));

  r = run_cli("validate -c configs/phase1.json --names");
  REQUIRE(r.code == 0);
  CHECK(lines_of(r.out) == names);

  TempDir dir("friction_validate");
  r = run_cli("validate --names -c " + dir.file("bad.json", R"({"cases": [{"name": "w", "tokens": 0, "heads": 1, "head_dim": 4}]})"));
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("case 'w': error: key 'tokens' must be at least 1"));
}

TEST_CASE("a non-finite candidate value: the count and the first index, in the message and the JSON", "[friction][cli]") {
  TempDir dir("friction_nan");
  const std::string report = dir.file("r.json");
  // Mode nan writes NaN at element size/2 of case causal (B 1, Sq 8, H 4, D 64): 1024 = [0, 4, 0, 0].
  const auto r = run_cli("run -c configs/phase1.json --case causal --no-diagnose --json " + report +
                         " --candidate-cmd '" + kCandidate + " nan {inputs} {out}'");
  INFO(r.out);
  REQUIRE(r.code == 1);
  const std::string expected = "1 non-finite candidate values where golden is finite; the first is nan at [0,4,0,0]";
  CHECK_THAT(r.out, Contains("causal: " + expected));
  const json c = json::parse(read_text(report))["cases"][0];
  CHECK(c["failures"][0] == expected);
  CHECK(c["metrics"]["vs_golden"]["first_nonfinite_index"] == json::array({0, 4, 0, 0}));
  CHECK(c["metrics"]["vs_golden"]["unexpected_nonfinite"] == 1);
  CHECK(c["metrics"]["vs_golden"]["nan"] == 1);
  // The correct kernel's own metrics have none.
  CHECK(c["metrics"]["naive_vs_golden"]["first_nonfinite_index"].is_null());
  CHECK(c["metrics"]["naive_vs_golden"]["unexpected_nonfinite"] == 0);
}

TEST_CASE("an external command's time and last output lines are in the report when it passes", "[friction][cli]") {
  TempDir dir("friction_candidate");
  const std::string report = dir.file("r.json");
  // The kernel reports its own timing on stderr, and an escape sequence that must reach no terminal.
  const std::string cmd = "printf \"kernel: 1.25 ms\\n\\033[2Jdone\\n\" >&2; " + kCandidate + " correct {inputs} {out}";
  auto r = run_cli("run -c configs/phase1.json --case 'sinks*' --json " + report + " --candidate-cmd '" + cmd + "'");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(lines_of(r.out)[0], Contains("pass%") && Contains("cmd s  verdict"));
  CHECK(r.out.find('\x1b') == std::string::npos);
  const json cases = json::parse(read_text(report))["cases"];
  REQUIRE(cases.size() == 2);
  for (const json& c : cases) {
    INFO(c.dump());
    CHECK(c["verdict"] == "pass");
    CHECK(c["candidate"]["output"] == json::array({"kernel: 1.25 ms", "\\x1B[2Jdone"}));
    CHECK(c["candidate"]["seconds"].get<double>() > 0);
    CHECK(c["candidate"]["seconds"].get<double>() <= c["seconds"].get<double>());
  }

  // A failing command keeps them too, next to the error.
  r = run_cli("run -c configs/phase1.json --case sinks --json " + report + " --candidate-cmd '" + kCandidate +
              " fail {inputs} {out}'");
  INFO(r.out);
  REQUIRE(r.code == 3);
  const json failed = json::parse(read_text(report))["cases"][0];
  CHECK(failed["verdict"] == "error");
  CHECK(failed["candidate"]["output"].back() == "RuntimeError: NKI kernel failed: SBUF overflow");

  // The built-in kernel runs no command: no column, no field.
  r = run_cli("run -c configs/phase1.json --case sinks --json " + report);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("cmd s") == std::string::npos);
  CHECK_FALSE(json::parse(read_text(report))["cases"][0].contains("candidate"));
}

TEST_CASE("run with --quiet keeps the summary and each failure's lines, not the table", "[friction][cli]") {
  // --help promised "only the summary line and failures"; the failures were dropped with the table.
  auto r = run_cli("run -q -c configs/phase1.json --mutant no_sinks");
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, !Contains("B×Sq/Sk×H/Hkv×D"));
  CHECK_THAT(r.out, Contains("  sinks: gate max_abs_vs_naive: "));
  CHECK_THAT(r.out, Contains("  sinks: where: "));
  CHECK(lines_of(r.out).back().rfind("phase1: 8 cases, 6 passed, 2 failed", 0) == 0);
  // A passing run is one line: the recipes' notes belong to the table.
  r = run_cli("run -q -c configs/phase2.json");
  CHECK(r.code == 0);
  CHECK(lines_of(r.out).size() == 1);
}

TEST_CASE("an unknown command is named as such, with the commands there are", "[friction][cli]") {
  const auto r = run_cli("no-such-command --config configs/phase1.json");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("error: unknown command 'no-such-command'"));
  CHECK_THAT(r.out, Contains("note: the commands are run, validate, calibrate,"));
  CHECK_THAT(r.out, !Contains("A subcommand is required"));
  CHECK(run_cli("").code == 2);  // no command at all still says one is required
  CHECK_THAT(run_cli("").out, Contains("A subcommand is required"));
}
