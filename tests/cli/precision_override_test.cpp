// --precision RECIPE (run, dump, shrink): every case in one built-in recipe, with that recipe's
// default gates, as if the suite had been edited by hand to say so.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::read_json;
using attn::test::run_cli;
using attn::test::without_timings;
using attn::test::TempDir;
using json = nlohmann::json;

TEST_CASE("precision override: run --precision equals running a suite edited to say that recipe", "[precision][cli]") {
  TempDir dir("precision_override");
  for (const char* recipe : {"fp32", "fp16-mixed", "int8"}) {
    INFO(recipe);
    // The edit a user would make by hand: every case in the recipe, no tolerance or gates of its own.
    json suite = read_json(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase2.json");
    for (json* o : {&suite["defaults"]}) {
      o->erase("tolerance");
      o->erase("gates");
      (*o)["precision"] = recipe;
    }
    for (json& c : suite["cases"]) {
      c.erase("tolerance");
      c.erase("gates");
      c["precision"] = recipe;
    }
    const std::string edited = dir.file(std::string("edited_") + recipe + ".json", suite.dump(2));
    const std::string a = (dir.path / "override.json").string(), b = (dir.path / "edited.json").string();
    const auto over = run_cli(std::string("run -c configs/phase2.json --mutant no_scale --diagnose --precision ") + recipe +
                              " --json " + a);
    const auto hand = run_cli("run -c " + edited + " --mutant no_scale --diagnose --json " + b);
    INFO(over.out);
    CHECK(over.code == 1);  // the mutant is still killed in every recipe
    CHECK(hand.code == 1);
    const json ra = read_json(a), rb = read_json(b);
    REQUIRE(ra["cases"].size() == 13);
    for (const json& c : ra["cases"]) CHECK(c["precision"] == recipe);
    CHECK(without_timings(ra["cases"]) == without_timings(rb["cases"]));
    CHECK(ra["run"]["precision"] == recipe);
    CHECK_FALSE(rb["run"].contains("precision"));  // recorded only when given
  }
}

TEST_CASE("precision override: the correct kernel passes every shipped phase in every recipe", "[precision][cli]") {
  // calibrate --recipe measured the margins (docs/calibration-recipes.md); this is seed 0 of each.
  for (const char* recipe : {"fp32", "bf16-mixed", "fp16-mixed", "fp8-e4m3", "int8"})
    for (const char* phase : {"phase1", "phase2", "phase3"}) {
      INFO(recipe << " " << phase);
      const auto r = run_cli(std::string("run -c configs/") + phase + ".json -q --precision " + recipe);
      INFO(r.out);
      CHECK(r.code == 0);
    }
}

TEST_CASE("precision override: the suite's own gates are dropped with its recipe", "[precision][cli]") {
  TempDir dir("precision_gates");
  // A gate no kernel meets: the case fails as written, and runs with the recipe's defaults under --precision.
  const std::string suite = dir.file("suite.json", R"({ "cases": [
    { "name": "strict", "tokens": 16, "heads": 2, "head_dim": 16, "precision": "bf16-mixed", "gates": { "max_abs": 0 } } ] })");
  CHECK(run_cli("run -q -c " + suite).code == 1);
  CHECK(run_cli("run -q -c " + suite + " --precision bf16-mixed").code == 0);
}

TEST_CASE("precision override: an unknown recipe is exit 2 naming the recipes", "[precision][cli]") {
  for (const char* cmd : {"run -c configs/phase1.json", "dump -c configs/phase1.json --all --out /nonexistent/x",
                          "shrink -c configs/phase1.json --case basic --mutant no_scale"}) {
    INFO(cmd);
    const auto r = run_cli(std::string(cmd) + " --precision bf16");
    CHECK(r.code == 2);
    CHECK(r.out.find("--precision: 'bf16' is not a recipe: a preset (fp32, bf16-mixed, fp16-mixed, fp8-e4m3, int8)") !=
          std::string::npos);
  }
  // The library refuses it too, naming the file.
  Suite s;
  Diagnostics diags;
  CHECK_FALSE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {.precision = "fp64"}, &s, &diags));
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].format().find("the precision override: 'fp64' is not a recipe: a preset (fp32, bf16-mixed") !=
        std::string::npos);
}

TEST_CASE("precision override: dump and shrink write the case in that recipe", "[precision][cli]") {
  TempDir dir("precision_dump");
  const std::string out = (dir.path / "sinks").string();
  REQUIRE(run_cli("dump -q -c configs/phase1.json --case sinks --precision fp16-mixed --out " + out).code == 0);
  const json c = read_json(out + "/case.json")["cases"][0];
  CHECK(c["precision"] == "fp16-mixed");
  // compare judges the dump in that recipe: the built-in kernel's own output passes.
  CHECK(run_cli("compare -q --inputs " + out + " --candidate " + out + "/tiled.npy").code == 0);

  const std::string shrunk = (dir.path / "min.json").string();
  const auto r = run_cli("shrink -q -c configs/phase1.json --case sinks --mutant no_sinks --precision fp32 --max-seconds 5 --out " +
                         shrunk);
  INFO(r.out);
  CHECK(r.code == 1);
  const json m = read_json(shrunk);
  REQUIRE(m["cases"].size() == 1);
  const json& mc = m["cases"][0];
  CHECK(mc.value("precision", m.value("defaults", json::object()).value("precision", "")) == "fp32");
}

TEST_CASE("precision override: merge refuses shards run in different recipes", "[precision][cli]") {
  TempDir dir("precision_merge");
  const std::string a = (dir.path / "a.json").string(), b = (dir.path / "b.json").string();
  REQUIRE(run_cli("run -q -c configs/phase1.json --shard 1/2 --precision fp32 --json " + a).code == 0);
  REQUIRE(run_cli("run -q -c configs/phase1.json --shard 2/2 --json " + b).code == 0);
  const auto r = run_cli("merge " + a + " " + b);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("run.precision") != std::string::npos);
}
