// Judging external kernels end to end through the CLI: dump -> a kernel outside attn-diff ->
// compare gives run's metrics to the last digit; run --candidate-cmd with correct, buggy, crashing,
// hanging and silent commands; diagnose on the command line.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "kernels/mutants.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_json;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const std::string kHelper = ATTN_DIFF_CANDIDATE;

// Runs the stand-in external kernel by hand, as a user runs theirs between dump and compare.

bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

std::size_t entries(const std::filesystem::path& dir) {
  return std::size_t(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()));
}

}  // namespace

TEST_CASE("judge cli: dump -> external kernel -> compare gives run's metrics to the last digit", "[judge][cli]") {
  TempDir dir("judge_same_digits");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"configs/phase1.json", "sinks_small_tiles"}, {"configs/phase2.json", "combo_bf16-mixed"},
      {"configs/phase2.json", "combo_fp8-e4m3"},    {"configs/phase2.json", "combo_int8"},
      {"configs/phase3.json", "empty_rows_sinks"}};
  for (const auto& [config, name] : cases) {
    for (const std::string mutant : {"", "gqa_interleaved"}) {
      INFO(name << " " << mutant);
      const std::string d = (dir.path / name).string();
      const std::string run_args = "run -c " + config + " --case " + name + (mutant.empty() ? "" : " --mutant " + mutant);
      const auto built_in = run_cli(run_args + " --json " + dir.file("run.json"));
      REQUIRE(run_cli("dump -c " + config + " --case " + name + " --out " + d).code == 0);
      REQUIRE(attn::test::run_stand_in((mutant.empty() ? "correct" : "mutant:" + mutant) + " " + d + " " + dir.file("out.npy")) == 0);
      const auto cmp = run_cli("compare --no-diagnose --inputs " + d + " --candidate " + dir.file("out.npy") + " --json " +
                               dir.file("cmp.json"));
      CHECK(cmp.code == built_in.code);
      const json a = read_json(dir.file("run.json"))["cases"][0], b = read_json(dir.file("cmp.json"))["cases"][0];
      CHECK(b["kernel"] == "external");
      for (const char* m : {"vs_golden", "vs_naive", "naive_vs_golden"}) CHECK(a["metrics"][m] == b["metrics"][m]);
      CHECK(a["worst"] == b["worst"]);
      if (!mutant.empty()) {  // both are "other" candidates: the same gates, bounds and values too
        CHECK(a["metrics"] == b["metrics"]);
        CHECK(a["gates"] == b["gates"]);
        CHECK(a["verdict"] == b["verdict"]);
      }
      // And through --candidate-cmd, per case in a temporary directory.
      const auto ext = run_cli(run_args.substr(0, run_args.find(" --mutant")) + " --no-diagnose --candidate-cmd \"'" + kHelper +
                               "' " + (mutant.empty() ? "correct" : "mutant:" + mutant) + " {inputs} {out}\" --json " +
                               dir.file("ext.json"));
      CHECK(ext.code == built_in.code);
      CHECK(read_json(dir.file("ext.json"))["cases"][0]["metrics"] == b["metrics"]);
    }
  }
}

TEST_CASE("judge cli: dump refuses an unknown case with a suggestion, --format", "[judge][cli]") {
  TempDir dir("judge_dump");
  auto r = run_cli("dump -c configs/phase1.json --case sink --out " + dir.path.string());
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("configs/phase1.json: error: no case named 'sink' (did you mean 'sinks'?)"));
  r = run_cli("dump -c configs/phase1.json --case sinks --format hdf5 --out " + dir.path.string());
  CHECK(r.code == 2);
  r = run_cli("dump -c configs/phase1.json --case sinks --format safetensors --out " + dir.path.string());
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("inputs.safetensors (q k v sinks as BF16)"));
  for (const char* f : {"case.json", "inputs.safetensors", "golden.npy", "naive.npy", "tiled.npy"})
    CHECK(std::filesystem::exists(dir.path / f));
  // A kernel can read the safetensors dump (the helper reads either), and compare checks it the same way.
  REQUIRE(attn::test::run_stand_in("correct " + dir.path.string() + " " + dir.file("o.npy")) == 0);
  CHECK(run_cli("compare --inputs " + dir.path.string() + " --candidate " + dir.file("o.npy")).code == 0);
}

TEST_CASE("judge cli: compare reads every layout and format, and refuses bad files with exit 2", "[judge][cli]") {
  TempDir dir("judge_compare_files");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase2.json --case combo_bf16-mixed --out " + d).code == 0);
  const std::string out = dir.file("o.bin");
  for (const char* layout : {"bshd", "bhsd", "bs(hd)"}) {
    INFO(layout);
    REQUIRE(attn::test::run_stand_in("correct " + d + " " + out + " --layout '" + layout + "'") == 0);
    CHECK(run_cli("compare --inputs " + d + " --candidate " + out + " --layout '" + layout + "'").code == 0);
  }
  REQUIRE(attn::test::run_stand_in("correct " + d + " " + out + " --format bf16-safetensors") == 0);
  CHECK(run_cli("compare --inputs " + d + " --candidate " + out).code == 0);
  REQUIRE(attn::test::run_stand_in("correct " + d + " " + out + " --format bf16-bits") == 0);
  CHECK(run_cli("compare --inputs " + d + " --candidate " + out + " --bf16-bits").code == 0);
  auto r = run_cli("compare --inputs " + d + " --candidate " + out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--bf16-bits"));
  // B = 2: s(hd) cannot hold it; the bhsd file read as bshd names its layout.
  REQUIRE(attn::test::run_stand_in("correct " + d + " " + out + " --layout bhsd") == 0);
  r = run_cli("compare --inputs " + d + " --candidate " + out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("accepted shapes for B=2 Sq=96 H=8 D=64: bshd [2, 96, 8, 64], bhsd [2, 8, 96, 64], bs(hd) [2, 96, 512]"));
  CHECK_THAT(r.out, Contains("pass --layout 'bhsd'"));
  REQUIRE(attn::test::run_stand_in("wrong_shape " + d + " " + out) == 0);
  r = run_cli("compare --inputs " + d + " --candidate " + out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("[2, 96, 8, 65]"));
  CHECK(run_cli("compare --inputs " + d + " --candidate " + out + " --layout bsdh").code == 2);
  CHECK(run_cli("compare --inputs " + d + " --candidate " + dir.file("missing.npy")).code == 2);
  CHECK(run_cli("compare --inputs " + dir.file("nowhere") + " --candidate " + out).code == 2);
}

TEST_CASE("judge cli: compare of a buggy kernel fails and carries the diagnosis in the JSON report", "[judge][cli]") {
  TempDir dir("judge_compare_bug");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case sinks --out " + d).code == 0);
  REQUIRE(attn::test::run_stand_in("mutant:sink_not_in_max " + d + " " + dir.file("o.npy")) == 0);
  const auto r = run_cli("compare --inputs " + d + " --candidate " + dir.file("o.npy") + " --json " + dir.file("r.json"));
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("diagnosis of sinks:\n  1. sink_not_in_max"));
  const json j = read_json(dir.file("r.json"));
  CHECK(j["schema"] == "attn-diff.report.v1");
  CHECK(j["cases"][0]["verdict"] == "fail");
  CHECK(j["cases"][0]["diagnosis"]["hypotheses"][0]["name"] == "sink_not_in_max");
  CHECK(j["cases"][0]["diagnosis"]["hypotheses"][0]["score"] == 1.0);
}

TEST_CASE("judge cli: diagnose names the bug, a layout mix-up, or precision", "[judge][cli]") {
  TempDir dir("judge_diagnose");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase2.json --case combo_bf16-mixed --out " + d).code == 0);
  const std::string out = dir.file("o.npy");
  const std::vector<std::pair<std::string, std::string>> expect = {
      {"mutant:no_sinks", "no_sinks"},
      {"mutant:window_off_by_one", "window_off_by_one"},
      {"mutant:gqa_interleaved", "gqa_interleaved"},
      {"mutant:prefix_skipped", "prefix_skipped"},
      {"mutant:no_scale --format bf16-safetensors", "no_scale"},
      {"recipe:fp32", "precision"},
      {"correct", "precision"},
      {"correct --reshaped-from bhsd", "layout:bhsd"},  // [B][H][S][D] data reshaped, not transposed, to bshd
      {"correct --reshaped-from sbhd", "layout:sbhd"}};
  for (const auto& [mode, top] : expect) {
    INFO(mode);
    const auto space = mode.find(' ');
    REQUIRE(attn::test::run_stand_in(mode.substr(0, space) + " " + d + " " + out + (space == std::string::npos ? "" : mode.substr(space))) == 0);
    const auto r = run_cli("diagnose --inputs " + d + " --candidate " + out + " --json " + dir.file("h.json"));
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains("1. " + top));
    CHECK_THAT(r.out, Contains("most likely: " + top));
    const json j = read_json(dir.file("h.json"));
    CHECK(j["hypotheses"][0]["name"] == top);
    CHECK(j["hypotheses"].size() == 1 + attn::mutants().size() + 4);  // precision, every mutant, 4 layout mix-ups
    for (const json& h : j["hypotheses"]) CHECK((h.contains("name") && h.contains("score") && h.contains("evidence")));
  }
  CHECK(run_cli("diagnose --inputs " + d + " --candidate " + dir.file("none.npy")).code == 2);
}

TEST_CASE("judge cli: run --candidate-cmd with correct, buggy and broken commands", "[judge][cli]") {
  TempDir dir("judge_cmd");
  const std::string cmd = "--candidate-cmd \"'" + kHelper + "' ";
  // Correct: passes, with the env variables set.
  auto r = run_cli("run -c configs/phase1.json " + cmd + "env - -\"");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("8 cases, 8 passed, 0 failed"));
  // Buggy: fails with exit 1 and a diagnosis per failing case.
  r = run_cli("run -c configs/phase1.json --case 'sinks*' --case causal " + cmd + "mutant:no_sinks {inputs} {out}\" --json " +
              dir.file("r.json"));
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("diagnosis of sinks:\n  1. no_sinks"));
  json j = read_json(dir.file("r.json"));
  CHECK(j["cases"][0]["verdict"] == "pass");  // causal: no sinks to forget
  CHECK(j["cases"][1]["diagnosis"]["hypotheses"][0]["name"] == "no_sinks");
  // Built-in candidates are diagnosed on request only; external ones unless told not to.
  CHECK_THAT(run_cli("run -c configs/phase1.json --case sinks --mutant no_sinks --diagnose").out,
             Contains("diagnosis of sinks:\n  1. no_sinks"));
  CHECK_THAT(run_cli("run -c configs/phase1.json --case sinks --mutant no_sinks").out, !Contains("diagnosis"));
  CHECK_THAT(run_cli("run -c configs/phase1.json --case sinks --no-diagnose " + cmd + "mutant:no_sinks {inputs} {out}\"").out,
             !Contains("diagnosis"));
  // NaN in the output: a failure, not an error.
  CHECK(run_cli("run -c configs/phase1.json --case sinks " + cmd + "nan {inputs} {out}\"").code == 1);

  struct Broken {
    std::string mode, message;
  };
  for (const Broken& b : {Broken{"crash", "was killed by signal 11"}, Broken{"fail", "exited with status 3"},
                          Broken{"no_output", "exited with status 0 but wrote nothing to"},
                          Broken{"wrong_shape", "accepted shapes for B=1 Sq=8 H=2 D=64"}}) {
    INFO(b.mode);
    r = run_cli("run -c configs/phase1.json --case 'sinks*' " + cmd + b.mode + " {inputs} {out}\" --json " + dir.file("e.json"));
    CHECK(r.code == 3);
    CHECK_THAT(r.out, Contains("2 cases, 0 passed, 0 failed, 2 errors"));  // the second case still ran
    j = read_json(dir.file("e.json"));
    CHECK(j["cases"].size() == 2);
    CHECK(j["cases"][1]["verdict"] == "error");
    CHECK_THAT(j["cases"][0]["error"].get<std::string>(), Contains(b.message));
  }
  // The command's last output lines travel with the error.
  r = run_cli("run -c configs/phase1.json --case sinks " + cmd + "fail {inputs} {out}\"");
  CHECK_THAT(r.out, Contains("| RuntimeError: NKI kernel failed: SBUF overflow"));
  CHECK_THAT(r.out, Contains("| candidate: compiling kernel"));
  r = run_cli("run -c configs/phase1.json --case sinks " + cmd + "crash {inputs} {out}\"");
  CHECK_THAT(r.out, Contains("| candidate: launching on /"));
  // Usage errors.
  CHECK(run_cli("run -c configs/phase1.json --mutant no_sinks " + cmd + "correct {inputs} {out}\"").code == 2);
  CHECK(run_cli("run -c configs/phase1.json --layout nope " + cmd + "correct {inputs} {out}\"").code == 2);
  CHECK(run_cli("run -c configs/phase1.json --timeout 0 " + cmd + "correct {inputs} {out}\"").code == 2);
}

TEST_CASE("judge cli: a hanging command is killed at --timeout with its process group", "[judge][cli]") {
  TempDir dir("judge_hang");
  const std::string pids = dir.file("pids");
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_cli("run -c configs/phase1.json --case sinks --case causal --timeout 1 --candidate-cmd \"'" + kHelper +
                         "' hang {inputs} {out} --pid-file " + pids + "\"");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains("did not finish within 1 s and was killed with its process group"));
  CHECK_THAT(r.out, Contains("| candidate: waiting for a device that never answers"));
  CHECK(seconds < 10);
  std::ifstream in(pids);
  pid_t kernel = 0, child = 0;
  in >> kernel >> child;
  REQUIRE(kernel > 0);
  REQUIRE(child > 0);
  for (int i = 0; i < 100 && !(gone(kernel) && gone(child)); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(gone(kernel));
  CHECK(gone(child));
}

TEST_CASE("judge cli: temporary directories are removed unless --keep-temp", "[judge][cli]") {
  TempDir dir("judge_temp");
  const std::string tmp = (dir.path / "t").string();
  std::filesystem::create_directories(tmp);
  ::setenv("TMPDIR", tmp.c_str(), 1);  // inherited by the attn-diff run_cli starts
  const std::string cmd = " --candidate-cmd \"'" + kHelper + "' correct {inputs} {out}\"";
  auto r = run_cli("run -c configs/phase1.json --case 'sinks*'" + cmd);
  CHECK(r.code == 0);
  CHECK(entries(tmp) == 0);
  r = run_cli("run -c configs/phase1.json --case 'sinks*' --keep-temp" + cmd);
  CHECK(r.code == 0);
  CHECK(entries(tmp) == 2);
  CHECK_THAT(r.out, Contains("kept " + tmp + "/attn-diff-"));
  for (const auto& e : std::filesystem::directory_iterator(tmp)) {
    CHECK(std::filesystem::exists(e.path() / "inputs" / "case.json"));
    CHECK(std::filesystem::exists(e.path() / "out.npy"));
  }
  // A failing command keeps its directory too, and says where.
  r = run_cli("run -c configs/phase1.json --case sinks --keep-temp --candidate-cmd \"'" + kHelper + "' fail {inputs} {out}\"");
  CHECK_THAT(r.out, Contains("note: kept " + tmp));
  ::unsetenv("TMPDIR");
}
