// `dump` of several cases (src/cli/dump.hpp): a glob, a repeated --case or --all write one
// directory per case under --out; one exact name keeps writing --out itself.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// The case name a dump's case.json holds ("" when there is none).
std::string dumped_case(const fs::path& dir) {
  const std::string text = read_text((dir / "case.json").string());
  return text.empty() ? "" : nlohmann::json::parse(text)["cases"][0]["name"].get<std::string>();
}

const std::set<std::string> kPhase1 = {"basic", "causal", "sliding_window", "sinks", "basic_small_tiles",
                                        "causal_small_tiles", "sliding_window_small_tiles", "sinks_small_tiles"};

}  // namespace

TEST_CASE("dump: a glob writes one directory per case, each a complete dump", "[dump][cli]") {
  TempDir dir("dump_glob");
  const fs::path out = dir.path / "d";
  const auto r = run_cli("dump -c configs/phase1.json --case 'sinks*' --out " + out.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(entries(out) == std::set<std::string>{"manifest.json", "sinks", "sinks_small_tiles"});
  CHECK(dumped_case(out / "sinks") == "sinks");
  CHECK(dumped_case(out / "sinks_small_tiles") == "sinks_small_tiles");
  CHECK_THAT(r.out, Contains((out / "sinks_small_tiles").string() + ": case 'sinks_small_tiles' (bf16-mixed"));
  // A case directory is what compare reads: the tiled kernel's own output passes against it.
  const fs::path one = out / "sinks_small_tiles";
  const auto c = run_cli("compare --inputs " + one.string() + " --candidate " + (one / "tiled.npy").string());
  INFO(c.out);
  CHECK(c.code == 0);
}

TEST_CASE("dump: --case repeated and --all, and one exact name keeps --out itself", "[dump][cli]") {
  TempDir dir("dump_many");
  auto r = run_cli("dump -c configs/phase1.json --case sinks --case causal --out " + (dir.path / "two").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(entries(dir.path / "two") == std::set<std::string>{"causal", "manifest.json", "sinks"});
  CHECK(dumped_case(dir.path / "two" / "causal") == "causal");

  r = run_cli("dump -c configs/phase1.json --all --out " + (dir.path / "all").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::set<std::string> tree = kPhase1;
  tree.insert("manifest.json");  // the batch dump's manifest (tests/cli/batch_compare_test.cpp)
  CHECK(entries(dir.path / "all") == tree);
  for (const std::string& name : kPhase1) CHECK(dumped_case(dir.path / "all" / name) == name);

  // The layout scripts already use: DIR/case.json, no subdirectory.
  r = run_cli("dump -c configs/phase1.json --case sinks --out " + (dir.path / "one").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(dumped_case(dir.path / "one") == "sinks");
  for (const std::string& e : entries(dir.path / "one")) CHECK_FALSE(fs::is_directory(dir.path / "one" / e));
}

TEST_CASE("dump: a --case that matches nothing names it, lists the cases, and writes nothing", "[dump][cli]") {
  TempDir dir("dump_nomatch");
  const fs::path out = dir.path / "d";
  auto r = run_cli("dump -c configs/phase1.json --case 'sinks*' --case 'nope*' --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("configs/phase1.json: error: --case 'nope*' matches no case"));
  CHECK_THAT(r.out, Contains("note: cases: basic, causal, sliding_window, sinks, basic_small_tiles, causal_small_tiles, "
                             "sliding_window_small_tiles, sinks_small_tiles"));
  CHECK_FALSE(fs::exists(out));  // not even the cases 'sinks*' matches

  r = run_cli("dump -c configs/phase1.json --case sinkz --out " + out.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("configs/phase1.json: error: no case named 'sinkz' (did you mean 'sinks'?)"));
  CHECK_FALSE(fs::exists(out));

  r = run_cli("dump -c configs/phase1.json --out " + out.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("error: pass --case NAME (a glob, repeatable) or --all"));
  r = run_cli("dump -c configs/phase1.json --all --case sinks --out " + out.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("error: --all and --case both choose the cases"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("dump: with several cases, a case name that is not a plain directory name is refused first", "[dump][cli]") {
  TempDir dir("dump_unsafe");
  const std::string suite = dir.file("s.json", R"({"suite": "names", "cases": [
    {"name": "fine", "tokens": 4, "heads": 1, "head_dim": 4},
    {"name": "../escape", "tokens": 4, "heads": 1, "head_dim": 4},
    {"name": ".hidden", "tokens": 4, "heads": 1, "head_dim": 4}]})");
  const fs::path out = dir.path / "d";
  auto r = run_cli("dump -c " + suite + " --all --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(suite + ": case '../escape': error: the case name cannot be a directory name under --out '" +
                             out.string() + "'"));
  CHECK_THAT(r.out, Contains(suite + ": case '.hidden': error: the case name cannot be a directory name"));
  CHECK_THAT(r.out, Contains("note: several cases are dumped to --out DIR/<case name>"));
  CHECK_FALSE(fs::exists(out));  // not even 'fine'
  CHECK_FALSE(fs::exists(dir.path / "escape"));

  // Alone and named exactly, the case goes to --out itself: its name is no path then.
  r = run_cli("dump -c " + suite + " --case ../escape --out " + out.string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(dumped_case(out) == "../escape");
  CHECK_FALSE(fs::exists(dir.path / "escape"));
}
