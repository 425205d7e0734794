// Strict JSON from outside (src/base/json_strict.hpp, issue #13): a NUL byte no longer ends a file
// silently and a key given twice no longer keeps the last value, in every file attn-diff reads:
// suite files, a dump's case.json, safetensors headers, the reports merge joins and --baseline.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "src/base/json_strict.hpp"
#include "tests/cli_helpers.hpp"

using attn::JsonError;
using attn::parse_json_strict;
using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A safetensors file: 8-byte little-endian header length, the header, the data.
std::string safetensors(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return s + header + data;
}

}  // namespace

TEST_CASE("json strict: valid JSON parses as nlohmann would", "[json_strict]") {
  JsonError e;
  const auto doc = parse_json_strict(R"({"a": {"x": 1}, "b": [{"x": 2}, {"x": 3}], "c": "\"x\": 1, \"x\""})", &e);
  REQUIRE(doc);
  CHECK(doc->at("b").at(1).at("x") == 3);  // the same key in sibling objects is no duplicate
  CHECK(parse_json_strict("[]", &e));
  CHECK(parse_json_strict(R"({"x": {}, "y": {"x": 1}})", &e));
}

TEST_CASE("json strict: duplicate keys are refused at any depth with both positions", "[json_strict]") {
  JsonError e;
  CHECK_FALSE(parse_json_strict("{\"cases\": [],\n \"cases\": [1]}", &e));
  CHECK_FALSE(e.malformed);
  CHECK(e.format("s.json") ==
        "s.json:2:2: error: duplicate key 'cases' (first at 1:2)\n"
        "note: JSON readers disagree on which of the two counts: give each key once");
  CHECK_FALSE(parse_json_strict(R"({"a": [{"b": {"c": 1, "d": 2, "c": 3}}]})", &e));
  CHECK(e.what() == "duplicate key 'c' (first at 1:15)");
  CHECK(e.at.offset == 30);
  // Equal after unescaping: "\u0061" is "a".
  CHECK_FALSE(parse_json_strict(R"({"a": 1, "\u0061": 2})", &e));
  CHECK_THAT(e.what(), Contains("duplicate key 'a'"));
  // A key holding a terminal escape is printed escaped.
  CHECK_FALSE(parse_json_strict(R"({"\u001b[2J": 1, "\u001b[2J": 2})", &e));
  CHECK_THAT(e.what(), Contains("duplicate key '\\x1B[2J'"));
}

TEST_CASE("json strict: a NUL byte, deep nesting and malformed text are errors with a position", "[json_strict]") {
  JsonError e;
  CHECK_FALSE(parse_json_strict(std::string("{\"a\": 1}\0{\"b\": 2}", 17), &e));
  CHECK(e.what() == "malformed JSON: NUL byte");
  CHECK(e.at.offset == 8);
  CHECK_FALSE(parse_json_strict(std::string("{\"a\": \"x\0y\"}", 12), &e));  // inside a string too
  CHECK(e.at.column == 9);
  CHECK_FALSE(parse_json_strict(std::string(100, '[') + std::string(100, ']'), &e));
  CHECK(e.what() == "malformed JSON: nested deeper than 64 levels");
  CHECK(e.at.offset == 64);
  CHECK_FALSE(parse_json_strict("{\n  \"a\": 1e400}", &e));
  CHECK(e.format("f").starts_with("f:2:8: error: malformed JSON: number overflow parsing '1e400'"));
  CHECK_FALSE(parse_json_strict("{\"a\": }", &e));
  CHECK(e.format("f").starts_with("f:1:7: error: malformed JSON: parse error"));
  CHECK(e.at_byte(8) == e.message + " at byte 14");
}

TEST_CASE("json strict: merge refuses a report with a second 'cases' list or a NUL byte", "[json_strict][cli]") {
  TempDir dir("json_strict_merge");
  const std::string report = dir.file("r.json");
  REQUIRE(run_cli("run -c configs/phase1.json --case basic -q --json " + report).code == 0);
  std::string text = read_text(report);
  // The reviewer reads the first "cases"; nlohmann kept the second, empty one: "0 cases", exit 0.
  const std::string dup = dir.file("dup.json", text.substr(0, text.rfind('}')) + ",\n  \"cases\": []\n}\n");
  const std::string merged = (dir.path / "merged.json").string();
  auto r = run_cli("merge " + dup + " --json " + merged);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(dup + ":"));
  CHECK_THAT(r.out, Contains(": error: duplicate key 'cases' (first at "));
  CHECK_FALSE(std::filesystem::exists(merged));
  const std::string nul = (dir.path / "nul.json").string();
  write_bytes(nul, text + std::string(1, '\0') + "garbage");
  r = run_cli("merge " + nul + " --json " + merged);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(": error: malformed JSON: NUL byte"));
  CHECK_FALSE(std::filesystem::exists(merged));
  // --baseline reads reports the same way.
  r = run_cli("run -c configs/phase1.json --case basic -q --baseline " + dup + " --json " + merged);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(": error: duplicate key 'cases' (first at "));
  CHECK_FALSE(std::filesystem::exists(merged));
}

TEST_CASE("json strict: compare refuses a case.json or a safetensors header with a duplicate key or a NUL",
          "[json_strict][cli]") {
  TempDir dir("json_strict_compare");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case basic --out " + d).code == 0);
  const std::string npy = read_text(d + "/tiled.npy");
  const std::string data = npy.substr(npy.size() - 32 * 4);  // basic: 1x4x2x4 float32, after the header
  // The first "out" is what a reader of the header sees first; nlohmann kept the second, which passed.
  const std::string dup = dir.file("dup.safetensors");
  write_bytes(dup, safetensors(R"({"out":{"dtype":"F32","shape":[7],"data_offsets":[0,28]},)"
                               R"("out":{"dtype":"F32","shape":[1,4,2,4],"data_offsets":[0,128]}})",
                               data));
  auto r = run_cli("compare -i " + d + " --candidate " + dup + " -q");
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(dup + ": error: malformed JSON header: duplicate key 'out' at byte 65 (first at byte 9)"));
  const std::string nul = dir.file("nul.safetensors");
  write_bytes(nul, safetensors(std::string(R"({"out":{"dtype":"F32","shape":[1,4,2,4],"data_offsets":[0,128]}})") +
                                   std::string(1, '\0') + R"({"x":1})",
                               data));
  r = run_cli("compare -i " + d + " --candidate " + nul + " -q");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(nul + ": error: malformed JSON header: NUL byte at byte 72"));
  // A case.json with a second "cases" list is refused, not half read.
  std::string case_json = read_text(d + "/case.json");
  const auto at = case_json.find("\"cases\"");
  REQUIRE(at != std::string::npos);
  write_bytes(d + "/case.json", case_json.substr(0, at) + "\"cases\": [], " + case_json.substr(at));
  r = run_cli("compare -i " + d + " --candidate " + d + "/tiled.npy -q");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("case.json:"));
  CHECK_THAT(r.out, Contains(": error: duplicate key 'cases' (first at "));
}
