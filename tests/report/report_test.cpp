// The JSON report v1: required fields of SPEC §8, values that survive a write and a read, and
// files that are never left half-written.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "src/report/report.hpp"

using namespace attn;
using nlohmann::json;

namespace {

RunReport small_report() {
  const json doc = json::parse(R"({ "suite": "s", "cases": [
      { "name": "a", "tokens": 9, "heads": 2, "head_dim": 8, "sinks": 1.0 },
      { "name": "b", "tokens": 4, "kv_tokens": 6, "heads": 4, "kv_heads": 2, "head_dim": 4, "window": 2,
        "precision": "fp32" } ] })");
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(doc, "s.json", {}, &s, &d));
  RunReport r{.suite = s.name, .config_file = "s.json"};
  for (const CaseSpec& c : s.cases) r.cases.push_back(run_case(c, tiled_candidate(1), {}));
  return r;
}

}  // namespace

TEST_CASE("report: the JSON report has every field SPEC §8 requires", "[report]") {
  const RunReport r = small_report();
  const json j = report_to_json(r);
  CHECK(j["schema"] == "attn-diff.report.v1");
  CHECK(j["tool"]["name"] == "attn-diff");
  CHECK(j["summary"]["cases"] == 2);
  CHECK(j["summary"]["passed"] == r.passed());
  CHECK(j["summary"]["failed"] == r.failed());
  CHECK(j["summary"]["errors"] == 0);
  const json& c = j["cases"][1];
  CHECK(c["name"] == "b");
  CHECK(c["precision"] == "fp32");
  CHECK(c["kernel"] == "tiled");
  CHECK(c["shape"] == json::parse(R"({"batch":1,"tokens":4,"kv_tokens":6,"q_offset":2,"heads":4,"kv_heads":2,"head_dim":4})"));
  CHECK(c["features"] == json::parse(R"({"causal":true,"window":2,"sinks":false})"));
  CHECK(c["tiles"] == json::parse(R"({"q":128,"kv":2048})"));
  for (const char* side : {"vs_golden", "vs_naive", "naive_vs_golden"})
    for (const char* f : {"mae", "max_abs", "max_abs_index", "max_rel", "rmse", "nmse", "pearson", "cosine",
                          "pass_rate", "min_atol", "min_rtol", "nan", "inf", "elements"}) {
      INFO(side << "." << f);
      CHECK(c["metrics"][side].contains(f));
    }
  CHECK(c["metrics"]["vs_golden"]["elements"] == 4 * 4 * 4);
  REQUIRE(c["gates"].is_array());
  for (const json& g : c["gates"]) {
    CHECK(g.contains("name"));
    CHECK(g.contains("bound"));
    CHECK(g.contains("value"));
    CHECK(g.contains("pass"));
  }
  REQUIRE(!c["worst"].empty());
  CHECK(c["worst"][0].contains("index"));
  CHECK(c["worst"][0].contains("abs_err"));
}

TEST_CASE("report: values survive a write and a read", "[report]") {
  const RunReport r = small_report();
  const auto dir = std::filesystem::temp_directory_path() / "attn_diff_report_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "r.json").string();
  std::string err;
  REQUIRE(write_file_atomic(path, report_to_json(r).dump(2), &err));
  std::ifstream in(path);
  const json back = json::parse(in);
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    const CaseResult& c = r.cases[i];
    const json& m = back["cases"][i]["metrics"]["vs_golden"];
    CHECK(m["mae"].get<double>() == *c.vs_golden.mae);  // full precision: dump() round-trips doubles
    CHECK(m["max_abs"].get<double>() == *c.vs_golden.max_abs);
    CHECK(m["max_abs_index"].get<Index4>() == c.vs_golden.max_abs_index);
    CHECK(m["pearson"].get<double>() == *c.vs_golden.pearson);
    CHECK(back["cases"][i]["verdict"] == verdict_name(c.verdict));
  }
  // Nothing but the report is left in the folder: the temporary file was renamed into place.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("report: a directory or an unwritable path is an error and leaves nothing", "[report]") {
  const auto dir = std::filesystem::temp_directory_path() / "attn_diff_report_dir";
  std::filesystem::create_directories(dir);
  std::string err;
  CHECK_FALSE(write_file_atomic(dir.string(), "{}", &err));
  CHECK(err.find("is a directory") != std::string::npos);
  CHECK_FALSE(write_file_atomic((dir / "missing" / "r.json").string(), "{}", &err));
  CHECK(err.find("cannot write") != std::string::npos);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 0);
  std::filesystem::remove_all(dir);
}
