// `merge` as a CI gate that cannot be fooled (SPEC §6): an interrupted shard makes the whole
// incomplete (exit 3, and every report says so); shards of another suite, config, version, seed or
// candidate, an incomplete set of shards and unknown verdicts are refused (exit 2); a malformed
// report is refused naming its file and the field's JSON path, before any report is written.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "src/report/shard.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A suite of small cases, some in each of two shards.
const char* kSuite = R"({ "suite": "tiny", "defaults": { "tokens": 8, "heads": 2, "head_dim": 16 }, "cases": [
  { "name": "a" }, { "name": "b", "causal": true }, { "name": "c", "window": 3 }, { "name": "d" },
  { "name": "e", "kv_heads": 1 }, { "name": "f" } ] })";

json load(const std::string& path) { return json::parse(read_text(path)); }

void save(const std::string& path, const json& j) { std::ofstream(path) << j.dump(1); }

// The two shard reports of one run of kSuite, with `extra` options.
struct Shards {
  TempDir dir;
  std::string config, s1, s2;
  explicit Shards(const std::string& name, const std::string& extra = "") : dir(name) {
    config = dir.file("tiny.json", kSuite);
    s1 = dir.file("s1.json");
    s2 = dir.file("s2.json");
    REQUIRE(run_cli("run -q -c " + config + " --shard 1/2 --json " + s1 + " " + extra).code == 0);
    REQUIRE(run_cli("run -q -c " + config + " --shard 2/2 --json " + s2 + " " + extra).code == 0);
    REQUIRE(!load(s1)["cases"].empty());
    REQUIRE(!load(s2)["cases"].empty());
  }
  // The output options of merge, in this folder.
  std::string outputs() const {
    return " --json " + dir.file("m.json") + " --junit " + dir.file("m.xml") + " --md " + dir.file("m.md") + " --html " +
           dir.file("m.html");
  }
  bool wrote_any() const {
    for (const char* f : {"m.json", "m.xml", "m.md", "m.html"})
      if (fs::exists(dir.path / f)) return true;
    return false;
  }
};

// `edit` applied to a copy of report `from`, saved as `name`.
std::string edited(const Shards& s, const std::string& from, const std::string& name, const std::function<void(json&)>& edit) {
  json j = load(from);
  edit(j);
  const std::string path = s.dir.file(name);
  save(path, j);
  return path;
}

// Shard 2 as an interrupted run leaves it: its last case dropped, marked incomplete.
void interrupt(json& r) {
  const std::string verdict = r["cases"].back()["verdict"];
  r["cases"].erase(r["cases"].size() - 1);
  r["summary"]["cases"] = r["cases"].size();
  r["summary"][verdict == "pass" ? "passed" : "failed"] = r["summary"][verdict == "pass" ? "passed" : "failed"].get<int>() - 1;
  r["summary"]["incomplete"] = true;
  r["summary"]["not_run"] = 1;
}

}  // namespace

TEST_CASE("merge: an interrupted shard makes the merged report incomplete, exit 3, in every format", "[merge][cli]") {
  Shards s("merge_interrupted");
  const std::string s2 = edited(s, s.s2, "s2_int.json", interrupt);
  const auto r = run_cli("merge " + s.s1 + " " + s2 + s.outputs());
  INFO(r.out);
  CHECK(r.code == 3);
  CHECK(r.out.find("INCOMPLETE: a shard was interrupted, 1 cases not run") != std::string::npos);
  const json m = load(s.dir.file("m.json"));
  CHECK(m["summary"]["incomplete"] == true);
  CHECK(m["summary"]["not_run"] == 1);
  CHECK(m["summary"]["failed"] == 0);  // nothing failed, and yet the whole is not green

  const std::string xml = read_text(s.dir.file("m.xml"));
  CHECK(xml.find("<testsuites name=\"attn-diff\" tests=\"6\" failures=\"0\" errors=\"1\"") != std::string::npos);
  CHECK(xml.find("<error message=\"the run was interrupted: 1 selected cases were not run\" type=\"incomplete\">") != std::string::npos);
  CHECK(run_command("xmllint --noout " + s.dir.file("m.xml")).code == 0);
  const std::string html = read_text(s.dir.file("m.html"));
  CHECK(html.find("<title>attn-diff tiny: INCOMPLETE</title>") != std::string::npos);
  CHECK(html.find("<span class=\"badge fail\">incomplete</span>") != std::string::npos);
  const std::string md = read_text(s.dir.file("m.md"));
  CHECK(md.find("### ❌ attn-diff `tiny`: INCOMPLETE, 5 cases") == 0);

  // The complete pair still merges green.
  CHECK(run_cli("merge " + s.s1 + " " + s.s2).code == 0);
}

TEST_CASE("merge: refuses the shards of another suite, config, version, seed, candidate or split", "[merge][cli]") {
  Shards s("merge_other_run");
  const std::string& c = s.config;
  auto refused = [&](const std::string& other, const std::string& message) {
    const auto r = run_cli("merge " + s.s1 + " " + other + s.outputs());
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(other + ": error: " + message) != std::string::npos);
    CHECK(!s.wrote_any());
  };
  const std::string seed = s.dir.file("seed.json"), mutant = s.dir.file("mutant.json"), cases = s.dir.file("cases.json");
  REQUIRE(run_cli("run -q -c " + c + " --shard 2/2 --seed 7 --json " + seed).code == 0);
  REQUIRE(run_cli("run -q -c " + c + " --shard 2/2 --mutant window_off_by_one --json " + mutant).code != 2);
  REQUIRE(run_cli("run -q -c " + c + " --shard 2/2 --case '*' --json " + cases).code == 0);
  refused(seed, "run.seed is 7 here but null in " + s.s1);
  refused(mutant, "run.candidate is \"mutant:window_off_by_one\" here but \"tiled\" in " + s.s1);
  refused(cases, "run.cases is [\"*\"] here but [] in " + s.s1);

  // The same suite name from a config with other content: another config.
  json other_suite = json::parse(kSuite);
  other_suite["defaults"]["tokens"] = 9;
  const std::string c2 = s.dir.file("tiny2.json", other_suite.dump()), other = s.dir.file("other_config.json");
  REQUIRE(run_cli("run -q -c " + c2 + " --shard 2/2 --json " + other).code == 0);
  refused(other, "run.config_digest is ");
  // Another suite.
  other_suite["suite"] = "huge";
  const std::string c3 = s.dir.file("huge.json", other_suite.dump()), huge = s.dir.file("huge_report.json");
  REQUIRE(run_cli("run -q -c " + c3 + " --shard 2/2 --json " + huge).code == 0);
  refused(huge, "the suite is \"huge\" here but \"tiny\" in " + s.s1);
  refused(edited(s, s.s2, "version.json", [](json& r) { r["tool"]["version"] = "9.9.9"; }),
          "tool.version is \"9.9.9\" here but ");
  // Another split: shard 2/3 completes nothing of 1/2.
  const std::string three = s.dir.file("three.json");
  REQUIRE(run_cli("run -q -c " + c + " --shard 2/3 --json " + three).code == 0);
  refused(three, "shard 2/3 is not of the split into 2 that " + s.s1 + " belongs to");
  // A case of shard 1 put into shard 2's report.
  std::string name = "moved";
  while (attn::shard_of(name, 2) != 1) name += "_";
  refused(edited(s, s.s2, "moved.json",
                 [&](json& r) {
                   json one = load(s.s1)["cases"][0];
                   one["name"] = name;
                   r["cases"].push_back(one);
                   r["summary"]["cases"] = r["cases"].size();
                   r["summary"]["passed"] = r["summary"]["passed"].get<int>() + 1;
                 }),
          "case '" + name + "' belongs to shard 1/2, not to this report's 2/2");
  // A shard missing, or given twice.
  auto r = run_cli("merge " + s.s2 + s.outputs());
  CHECK(r.code == 2);
  CHECK(r.out.find("error: shard 1/2 is missing") != std::string::npos);
  r = run_cli("merge " + s.s1 + " " + s.s2 + " " + s.s2 + s.outputs());
  CHECK(r.code == 2);
  CHECK(r.out.find(s.s2 + ": error: shard '2/2' is given twice") != std::string::npos);
  CHECK(!s.wrote_any());
}

TEST_CASE("merge: reports without a 'run' record (older attn-diff) merge only with each other, with a warning", "[merge][cli]") {
  Shards s("merge_old");
  auto old = [](json& r) { r.erase("run"); };
  const std::string o1 = edited(s, s.s1, "o1.json", old), o2 = edited(s, s.s2, "o2.json", old);
  auto r = run_cli("merge " + o1 + " " + o2);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("warning: the reports have no 'run' record") != std::string::npos);
  r = run_cli("merge " + s.s1 + " " + o2 + s.outputs());
  CHECK(r.code == 2);
  CHECK(r.out.find(o2 + ": error: lacks a 'run' record but " + s.s1 + " has one") != std::string::npos);
  CHECK(!s.wrote_any());
  // Old reports of different configs are still told apart by the config path.
  const std::string o3 = edited(s, s.s2, "o3.json", [](json& r) { r.erase("run"), r["config"] = "configs/other.json"; });
  r = run_cli("merge " + o1 + " " + o3);
  CHECK(r.code == 2);
  CHECK(r.out.find(o3 + ": error: the config is \"configs/other.json\" here but ") != std::string::npos);
}

TEST_CASE("merge: a malformed report is refused with its file and field, and nothing is written", "[merge][cli]") {
  Shards s("merge_malformed");
  struct Bad {
    const char* what;
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"unknown verdict", [](json& r) { r["cases"][0]["verdict"] = "crashed"; },
       "cases[0].verdict: unknown verdict 'crashed' (expected pass, fail, error or unsupported)"},
      {"bins_per_decade 0 (was SIGFPE)", [](json& r) { r["cases"][0]["breakdown"]["histogram"]["bins_per_decade"] = 0; },
       "cases[0].breakdown.histogram.bins_per_decade: 0 is outside [1, 1000]"},
      {"a number as a failure (was abort)", [](json& r) { r["cases"][0]["failures"] = {1}; },
       "cases[0].failures[0]: expected a string, got a number"},
      {"a number as a name", [](json& r) { r["cases"][1]["name"] = 5; }, "cases[1].name: expected a string, got a number"},
      {"a ragged heatmap", [](json& r) { r["cases"][0]["breakdown"]["heatmap_tiles"]["cells"][0].push_back(1.0); },
       "cases[0].breakdown.heatmap_tiles.cells[0]: expected an array of "},
      {"a negative seed", [](json& r) { r["cases"][0]["seed"] = -1; }, "cases[0].seed: -1 is outside [0, "},
      {"a string as metrics", [](json& r) { r["cases"][0]["metrics"]["vs_naive"] = "x"; },
       "cases[0].metrics.vs_naive: expected an object, got string"},
      {"gate value a string", [](json& r) { r["cases"][0]["gates"][0]["value"] = "1"; },
       "cases[0].gates[0].value: expected a number or null, got string"},
      {"a summary that does not count the cases", [](json& r) { r["summary"]["passed"] = 99; }, "summary.passed: says 99 but the cases hold "},
      {"not_run without incomplete", [](json& r) { r["summary"]["not_run"] = 2; },
       "summary.not_run: cases were not run, yet 'incomplete' is not true"},
      {"a case twice", [](json& r) { r["cases"].push_back(r["cases"][0]); }, "is in the report twice"},
      {"no summary", [](json& r) { r.erase("summary"); }, "summary: missing"},
      {"another schema", [](json& r) { r["schema"] = "attn-diff.report.v2"; }, "schema: \"attn-diff.report.v2\" is not"},
      {"a malformed shard", [](json& r) { r["shard"] = "3/2"; }, "shard: '3/2' is not I/N"},
      {"a control character in a key path", [](json& r) { r["run"]["a\x01"] = json::object(); }, "run.a\\x01: expected a string"},
  };
  for (const Bad& b : bad) {
    INFO(b.what);
    const std::string file = edited(s, s.s2, "bad.json", b.edit);
    const auto r = run_cli("merge " + s.s1 + " " + file + s.outputs());
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(file + ": error: ") != std::string::npos);
    CHECK(r.out.find(b.message) != std::string::npos);
    CHECK(!s.wrote_any());
  }
  // The strict JSON reader's messages (src/base/json_strict.hpp) point at the line and column.
  for (const auto& [what, content, message] :
       {std::tuple{"not JSON", std::string("{\"schema\":"), std::string(":1:11: error: malformed JSON")},
        {"nested 100000 deep", std::string(100000, '['), ":1:65: error: malformed JSON: nested deeper than 64 levels"},
        {"a key twice", std::string("{\"schema\": 1, \"schema\": 2}"), ":1:15: error: duplicate key 'schema' (first at 1:2)"},
        {"a NUL byte", std::string("{}\0{}", 5), ":1:3: error: "}}) {
    INFO(what);
    const std::string file = s.dir.file("text.json", content);
    const auto r = run_cli("merge " + s.s1 + " " + file + s.outputs());
    CHECK(r.code == 2);
    INFO(r.out);
    CHECK(r.out.find(file + message) != std::string::npos);
    CHECK(!s.wrote_any());
  }
  const auto r = run_cli("merge " + s.s1 + " " + s.dir.path.string() + s.outputs());
  CHECK(r.code == 2);
  CHECK(r.out.find(s.dir.path.string() + ": error: cannot read the report") != std::string::npos);
}
