// The bad-input corpus of tests/bad_inputs/ (see its README.md): every file there must be refused
// with the right exit code and a message naming the problem, and must leave no report behind.
// Configs go through the CLI; .npy and .safetensors files through the readers. Plus the inputs
// that are not files: report paths, and NaN/Inf coming out of a candidate.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "src/base/fileio.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "src/judge/runner.hpp"
#include "src/suite/config.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::run_cli;
using attn::test::TempDir;

namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(ATTN_DIFF_SOURCE_DIR) / "tests" / "bad_inputs";

// NAME.expect beside NAME.ext: "exit: N", "args: ..." and any number of "message: ..." lines, each
// of which must appear in the output with {file} replaced by the path attn-diff was given.
struct Expect {
  int exit = 2;
  std::string args;
  std::vector<std::string> messages;
};

Expect read_expect(const fs::path& input) {
  fs::path p = input;
  p.replace_extension(".expect");
  std::ifstream in(p);
  REQUIRE(in);
  Expect e;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(": ");
    REQUIRE(colon != std::string::npos);
    const std::string key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "exit") e.exit = std::stoi(value);
    else if (key == "args") e.args = value;
    else if (key == "message") e.messages.push_back(value);
    else FAIL(p.string() << ": unknown line '" << line << "'");
  }
  REQUIRE_FALSE(e.messages.empty());
  return e;
}

std::string with_file(std::string message, const std::string& file) {
  for (std::size_t at; (at = message.find("{file}")) != std::string::npos;) message.replace(at, 6, file);
  return message;
}

std::vector<fs::path> inputs(const std::string& folder, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kCorpus / folder))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("bad inputs: every config of the corpus exits as expected and leaves no report", "[bad_inputs][cli]") {
  TempDir out("bad_inputs_configs");
  const auto files = inputs("configs", ".json");
  REQUIRE(files.size() >= 25);
  for (const fs::path& path : files) {
    const std::string rel = fs::relative(path, ATTN_DIFF_SOURCE_DIR).string();
    const Expect e = read_expect(path);
    const std::string report = (out.path / "report.json").string();
    const auto r = run_cli("run --config " + rel + " --json " + report + " " + e.args);
    INFO(rel << "\n" << r.out.substr(0, 4000));
    CHECK(r.code == e.exit);
    for (const std::string& m : e.messages) CHECK_THAT(r.out, Catch::Matchers::Contains(with_file(m, rel)));
    CHECK(r.out.find('\x1b') == std::string::npos);  // NO_COLOR is set: no escape reaches the terminal
    if (e.exit == 2) {
      CHECK(listing(out.path).empty());  // no report, no temporary file
      const auto v = run_cli("validate --config " + rel + " " + e.args);  // the same verdict without running
      CHECK(v.code == 2);
      CHECK_THAT(v.out, Catch::Matchers::Contains(with_file(e.messages.front(), rel)));
    } else {
      CHECK(listing(out.path) == std::vector<std::string>{"report.json"});
    }
    fs::remove_all(out.path);
    fs::create_directories(out.path);
  }
}

TEST_CASE("bad inputs: every .npy of the corpus is refused with its message", "[bad_inputs][npy]") {
  const auto files = inputs("npy", ".npy");
  REQUIRE(files.size() >= 20);
  for (const fs::path& path : files) {
    INFO(path.string());
    attn::Array a;
    std::string err;
    CHECK_FALSE(attn::read_npy(path.string(), &a, &err));
    CHECK(err.find('\x1b') == std::string::npos);
    CHECK_NOTHROW(nlohmann::json(err).dump());  // fits in a JSON report
    for (const std::string& m : read_expect(path).messages) CHECK_THAT(err, Catch::Matchers::Contains(with_file(m, path.string())));
  }
}

TEST_CASE("bad inputs: every .safetensors of the corpus is refused with its message", "[bad_inputs][safetensors]") {
  const auto files = inputs("safetensors", ".safetensors");
  REQUIRE(files.size() >= 18);
  for (const fs::path& path : files) {
    INFO(path.string());
    std::vector<attn::NamedArray> t;
    std::string err;
    CHECK_FALSE(attn::read_safetensors(path.string(), &t, &err));
    CHECK(err.find('\x1b') == std::string::npos);
    CHECK_NOTHROW(nlohmann::json(err).dump());  // fits in a JSON report
    for (const std::string& m : read_expect(path).messages) CHECK_THAT(err, Catch::Matchers::Contains(with_file(m, path.string())));
  }
}

TEST_CASE("bad inputs: a config path that is a directory or missing exits 2", "[bad_inputs][cli]") {
  auto r = run_cli("run --config tests/bad_inputs");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Catch::Matchers::Contains("tests/bad_inputs: error: is a directory, not a suite file"));
  r = run_cli("validate --config tests/bad_inputs/no_such_file.json");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Catch::Matchers::Contains("no_such_file.json: error: cannot open the file (No such file or directory)"));
}

TEST_CASE("bad inputs: report paths that cannot be written exit 2 and leave nothing behind", "[bad_inputs][cli]") {
  TempDir dir("bad_report_paths");
  const std::string config = "--config configs/phase1.json --case basic ";

  SECTION("a directory") {
    const auto r = run_cli("run " + config + "--json " + dir.path.string());
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Catch::Matchers::Contains(dir.path.string() + ": error: is a directory, not a file"));
    CHECK(listing(dir.path).empty());
  }
  SECTION("inside a regular file") {
    const std::string file = dir.file("plain.txt", "not a folder\n");
    const auto r = run_cli("run " + config + "--json " + file + "/report.json");
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Catch::Matchers::Contains(file + "/report.json: error: cannot write (Not a directory)"));
    CHECK(listing(dir.path) == std::vector<std::string>{"plain.txt"});
  }
  SECTION("in a folder that does not exist") {
    const std::string missing = (dir.path / "no" / "such" / "report.json").string();
    const auto r = run_cli("run " + config + "--json " + missing);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Catch::Matchers::Contains(missing + ": error: cannot write (No such file or directory)"));
    CHECK(listing(dir.path).empty());
  }
  SECTION("in a read-only folder") {
    if (::geteuid() == 0) return;  // root writes anywhere; the other sections cover the path
    const fs::path ro = dir.path / "ro";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    const auto r = run_cli("run " + config + "--json " + (ro / "report.json").string());
    fs::permissions(ro, fs::perms::owner_all);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Catch::Matchers::Contains("cannot write (Permission denied)"));
    CHECK(listing(ro).empty());
  }
  SECTION("an existing report is replaced whole, never truncated in place") {
    const std::string report = dir.file("report.json", "{\"old\": true}\n");
    REQUIRE(run_cli("run " + config + "--json " + report).code == 0);
    std::ifstream in(report);
    CHECK(nlohmann::json::parse(in)["schema"] == "attn-diff.report.v1");
    CHECK(listing(dir.path) == std::vector<std::string>{"report.json"});
  }
}

TEST_CASE("bad inputs: case names are never used as file names as they are", "[bad_inputs]") {
  using attn::safe_file_name;
  CHECK(safe_file_name("../../escape") == "_.._.._escape");
  CHECK(safe_file_name("a/b\\c") == "a_b_c");
  CHECK(safe_file_name("..") == "_..");
  CHECK(safe_file_name(".") == "_.");
  CHECK(safe_file_name("") == "_");
  CHECK(safe_file_name("/abs") == "_abs");
  CHECK(safe_file_name("tab\there\nnl") == "tab_here_nl");
  CHECK(safe_file_name("sinks_small_tiles") == "sinks_small_tiles");
  CHECK(safe_file_name("ünï ✓") == "ünï ✓");
  CHECK(safe_file_name(std::string(1000, 'x')).size() <= 200);
  for (const char* name : {"../../x", "..", "a/../../b", "/etc/passwd"}) {
    const fs::path p = fs::path("/base") / safe_file_name(name);
    CHECK(p.parent_path() == "/base");
    CHECK(p.filename() != "..");
  }
}

namespace {

// The correct kernel's output with `bad` written over element `at`.
attn::Candidate spoiled(double bad, std::size_t at) {
  return {.kernel = "external", .is_expected = false,
          .produce = [=](attn::PreparedCase& p, std::vector<double>* out, std::string* err) {
            if (!attn::tiled_candidate(1).produce(p, out, err)) return false;
            (*out)[at % out->size()] = bad;
            return true;
          }};
}

}  // namespace

TEST_CASE("bad inputs: NaN or Inf from a candidate fails the case, whatever the gates", "[bad_inputs]") {
  attn::Suite suite;
  attn::Diagnostics diags;
  REQUIRE(attn::load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {}, &suite, &diags));
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const attn::CaseSpec& c : suite.cases) {
    attn::CaseSpec loose = c;
    loose.gates.clear();  // no gate at all: only the non-finite rule can fail it
    for (double bad : {nan, inf, -inf}) {
      INFO(c.name << " with " << bad);
      const attn::CaseResult r = attn::run_case(loose, spoiled(bad, 7), {.threads = 1});
      CHECK(r.verdict == attn::Verdict::fail);
      REQUIRE_FALSE(r.failures.empty());
      CHECK_THAT(r.failures.front(), Catch::Matchers::Contains("1 non-finite candidate values where golden is finite"));
      CHECK(r.vs_golden.nan_candidate + r.vs_golden.inf_candidate == 1);
    }
    CHECK(attn::run_case(loose, attn::tiled_candidate(1), {.threads = 1}).verdict == attn::Verdict::pass);
  }
}

TEST_CASE("bad inputs: a candidate of the wrong size is an error, not a crash", "[bad_inputs]") {
  attn::Suite suite;
  attn::Diagnostics diags;
  REQUIRE(attn::load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {}, &suite, &diags));
  const attn::Candidate short_one{
      .kernel = "external", .is_expected = false,
      .produce = [](attn::PreparedCase&, std::vector<double>* out, std::string*) {
        out->assign(3, 0.0);
        return true;
      }};
  const attn::CaseResult r = attn::run_case(suite.cases.front(), short_one, {.threads = 1});
  CHECK(r.verdict == attn::Verdict::error);
  CHECK_THAT(r.error, Catch::Matchers::Contains("the candidate has 3 elements, expected"));
}
