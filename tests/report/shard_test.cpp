// Sharding and merging end to end: the shards of a suite hold every case exactly once, a case's
// shard does not depend on the others, and merging the shards' reports gives the unsharded run's
// verdict and numbers.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "src/report/shard.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using nlohmann::json;

TEST_CASE("shard: I/N parsing and the stable split", "[shard]") {
  std::string err;
  CHECK(attn::parse_shard("2/4", &err)->index == 2);
  CHECK(attn::parse_shard("1/1", &err)->count == 1);
  for (const char* bad : {"0/3", "4/3", "1/0", "x", "1/", "/2", "1/2/3", "-1/2", "1/2 ", ""}) {
    INFO(bad);
    CHECK(!attn::parse_shard(bad, &err));
  }
  CHECK(attn::fnv1a64("") == 0xcbf29ce484222325ull);  // FNV-1a's published test vectors
  CHECK(attn::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(attn::fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(attn::shard_of("anything", 1) == 1);
  std::set<int> used;
  for (int n = 0; n < 100; ++n) used.insert(attn::shard_of("case_" + std::to_string(n), 4));
  CHECK(used == std::set<int>{1, 2, 3, 4});
}

TEST_CASE("shard: three shards cover the suite once and merge into the unsharded report", "[shard]") {
  TempDir dir("shard");
  const auto full = dir.file("full.json");
  REQUIRE(run_cli("run -c configs/phase1.json --mutant window_off_by_one --json " + full).code == 1);
  const json whole = json::parse(read_text(full));
  std::vector<std::string> parts;
  std::multiset<std::string> seen;
  for (int i = 1; i <= 3; ++i) {
    parts.push_back(dir.file("s" + std::to_string(i) + ".json"));
    const auto r = run_cli("run -c configs/phase1.json --mutant window_off_by_one --shard " + std::to_string(i) + "/3 --json " + parts.back());
    INFO(r.out);
    CHECK((r.code == 0 || r.code == 1));
    CHECK(r.out.find("phase1 shard " + std::to_string(i) + "/3:") != std::string::npos);
    const json s = json::parse(read_text(parts.back()));
    CHECK(s["shard"] == std::to_string(i) + "/3");
    for (const json& c : s["cases"]) {
      seen.insert(c["name"].get<std::string>());
      CHECK(attn::shard_of(c["name"].get<std::string>(), 3) == i);
    }
  }
  std::multiset<std::string> all;
  for (const json& c : whole["cases"]) all.insert(c["name"].get<std::string>());
  CHECK(seen == all);

  const auto merged_path = dir.file("merged.json"), md = dir.file("m.md"), xml = dir.file("m.xml");
  const auto m = run_cli("merge " + parts[0] + " " + parts[1] + " " + parts[2] + " --json " + merged_path + " --md " + md +
                         " --junit " + xml);
  INFO(m.out);
  CHECK(m.code == 1);  // the verdict of the whole: the mutant fails some case
  const json merged = json::parse(read_text(merged_path));
  CHECK(merged["schema"] == "attn-diff.report.v1");
  CHECK(merged["summary"]["cases"] == whole["summary"]["cases"]);
  CHECK(merged["summary"]["passed"] == whole["summary"]["passed"]);
  CHECK(merged["summary"]["failed"] == whole["summary"]["failed"]);
  for (const json& c : whole["cases"]) {
    const auto it = std::find_if(merged["cases"].begin(), merged["cases"].end(), [&](const json& x) { return x["name"] == c["name"]; });
    REQUIRE(it != merged["cases"].end());
    CHECK((*it)["verdict"] == c["verdict"]);
    CHECK((*it)["metrics"]["vs_golden"]["max_abs"] == c["metrics"]["vs_golden"]["max_abs"]);
  }
  CHECK(read_text(md).find("### ❌") == 0);
  CHECK(!read_text(xml).empty());
}

TEST_CASE("merge: refuses duplicates, missing shards, other selections and other schemas, passes a clean whole", "[shard]") {
  TempDir dir("merge_bad");
  const auto a = dir.file("a.json"), b = dir.file("b.json");
  REQUIRE(run_cli("run -c configs/phase1.json --shard 1/2 --json " + a).code == 0);
  REQUIRE(run_cli("run -c configs/phase1.json --shard 2/2 --json " + b).code == 0);
  CHECK(run_cli("merge " + a + " " + b + " --json " + dir.file("ok.json")).code == 0);
  auto r = run_cli("merge " + a + " " + a);
  CHECK(r.code == 2);
  CHECK(r.out.find("is given twice") != std::string::npos);
  r = run_cli("merge " + a);
  CHECK(r.code == 2);
  CHECK(r.out.find("shard 2/2 is missing") != std::string::npos);
  const auto u1 = dir.file("u1.json"), u2 = dir.file("u2.json");
  REQUIRE(run_cli("run -c configs/phase1.json --case basic --json " + u1).code == 0);
  REQUIRE(run_cli("run -c configs/phase1.json --case 'basic*' --json " + u2).code == 0);
  r = run_cli("merge " + u1 + " " + u2);
  CHECK(r.code == 2);
  CHECK(r.out.find(u2 + ": error: run.cases is [\"basic*\"] here but [\"basic\"] in " + u1) != std::string::npos);
  r = run_cli("merge " + dir.file("x.json", R"({"schema": "attn-diff.report.v2", "cases": []})"));
  CHECK(r.code == 2);
  CHECK(r.out.find("schema: \"attn-diff.report.v2\" is not \"attn-diff.report.v1\"") != std::string::npos);
  CHECK(run_cli("merge " + dir.file("nope.json")).code == 2);
  CHECK(run_cli("run -c configs/phase1.json --shard 3/2").code == 2);
  CHECK(run_cli("run -c configs/phase1.json --shard two").out.find("expected I/N") != std::string::npos);
}
