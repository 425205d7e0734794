// The command line end to end: exit codes of SPEC §6, the table, and the JSON report on disk.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::run_cli;
using attn::test::TempDir;

TEST_CASE("cli: phase1 passes and prints a table and a summary", "[cli]") {
  const auto r = run_cli("--config configs/phase1.json");
  INFO(r.out);
  CHECK(r.code == 0);
  for (const char* name : {"basic", "causal", "sliding_window", "sinks", "sinks_small_tiles"})
    CHECK(r.out.find(name) != std::string::npos);
  CHECK(r.out.find("8 cases, 8 passed, 0 failed") != std::string::npos);
  CHECK(r.out.find("\033[") == std::string::npos);  // NO_COLOR
  CHECK(run_cli("run --config configs/phase1.json --quiet").out.find("basic_small_tiles") == std::string::npos);
}

TEST_CASE("cli: --case selects by glob, and a glob matching nothing is a usage error", "[cli]") {
  auto r = run_cli("run -c configs/phase1.json --case 'sinks*' --case basic");
  CHECK(r.code == 0);
  CHECK(r.out.find("3 cases") != std::string::npos);
  r = run_cli("run -c configs/phase1.json --case nothing_here");
  CHECK(r.code == 2);
  CHECK(r.out.find("no case matches --case nothing_here") != std::string::npos);
}

TEST_CASE("cli: a broken config exits 2 naming the file, case and key", "[cli]") {
  TempDir dir("cli_broken");
  const auto path = dir.file("bad.json", R"({ "cases": [ { "name": "w", "tokens": 4, "heads": 2, "head_dim": 4, "windw": 2 } ] })");
  const auto r = run_cli("--config " + path);
  CHECK(r.code == 2);
  CHECK(r.out.find(path + ": case 'w': error: unknown key 'windw' (did you mean 'window'?)") != std::string::npos);
  const auto v = run_cli("validate --config " + path);
  CHECK(v.code == 2);
  CHECK(v.out.find("windw") != std::string::npos);
  CHECK(run_cli("validate --config configs/phase1.json").code == 0);
}

TEST_CASE("cli: --json writes the v1 report, bad usage exits 2", "[cli]") {
  TempDir dir("cli_json");
  const auto path = dir.file("report.json");
  REQUIRE(run_cli("run -c configs/phase1.json --json " + path).code == 0);
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  CHECK(j["schema"] == "attn-diff.report.v1");
  CHECK(j["summary"]["passed"] == 8);
  CHECK(run_cli("run -c configs/phase1.json --json " + dir.path.string()).code == 2);  // a directory
  CHECK(run_cli("run --bogus").code == 2);
  CHECK(run_cli("run").code == 2);  // --config is required
  CHECK(run_cli("run -c configs/phase1.json --max-memory lots").code == 2);
  CHECK(run_cli("frobnicate").code == 2);
  const auto help = run_cli("--help");
  CHECK(help.code == 0);
  CHECK(help.out.find("Examples") != std::string::npos);
}

TEST_CASE("cli: --seed changes the inputs and the numbers", "[cli]") {
  const auto a = run_cli("run -c configs/phase1.json --case causal --seed 1");
  const auto b = run_cli("run -c configs/phase1.json --case causal --seed 2");
  CHECK(a.code == 0);
  CHECK(b.code == 0);
  auto row = [](const std::string& out) { return out.substr(out.find("\ncausal"), out.find("verdict") == std::string::npos ? 0 : 80); };
  CHECK(row(a.out) != row(b.out));  // the metrics of the case row, not the timing line
}
