// Batch mode (docs/external-kernels.md "Batch mode"): `dump --all` writes a tree with a manifest,
// and `compare --inputs TREE --candidate OUTDIR` judges a folder of outputs, one per case, in one
// report that is `run`'s.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_json;
using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace fs = std::filesystem;

namespace {

std::vector<std::string> suite_case_names(const std::string& config) {
  std::vector<std::string> names;
  const json suite = read_json(fs::path(ATTN_DIFF_SOURCE_DIR) / config);  // kept: the loop reads into it
  for (const json& c : suite["cases"]) names.push_back(c["name"]);
  return names;
}

// The built-in kernel's outputs as a user's outputs folder: each case's tiled.npy as OUT/<case>.npy.
void copy_tiled_outputs(const fs::path& tree, const fs::path& out) {
  fs::create_directories(out);
  const json manifest = read_json(tree / "manifest.json");
  for (const json& c : manifest["cases"])
    fs::copy_file(tree / c["dir"].get<std::string>() / "tiled.npy", out / c["out"].get<std::string>(),
                  fs::copy_options::overwrite_existing);
}

// A dumped tree of `config` and its tiled outputs, under `root`.
void dump_tree(const std::string& config, const fs::path& tree, const fs::path& out) {
  const auto r = run_cli("dump -q -j 2 -c " + config + " --all --out " + tree.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  copy_tiled_outputs(tree, out);
}

// `a` times `factor`, written as float32 to `to`.
void write_scaled(const fs::path& from, const fs::path& to, double factor) {
  attn::Array a;
  std::string err;
  REQUIRE(attn::read_npy(from.string(), &a, &err));
  std::vector<float> f;
  for (double x : a.values) f.push_back(float(x * factor));
  REQUIRE(attn::write_npy_f32(to.string(), a.shape, f, &err));
}

// What a case object of the JSON report must have in common between `run` (the built-in kernel,
// "tiled") and `compare` of its outputs ("external"). Left out, because they differ by design:
// the timings and the memory high-water mark; the kernel's name; and what attn-diff adds for every
// external candidate (as for `run --candidate-cmd`): the correct tiled kernel's own error
// ("expected_vs_golden", here the candidate's own error, bit for bit) and the max_abs_vs_expected
// gate built on it (2 x that error, which the tiled output always meets).
json comparable(json c) {
  c.erase("seconds");
  c.erase("peak_memory_bytes");
  c.erase("kernel");
  if (c.contains("metrics")) c["metrics"].erase("expected_vs_golden");
  if (c.contains("gates")) {
    json kept = json::array();
    for (const json& g : c["gates"])
      if (g["name"] != "max_abs_vs_expected") kept.push_back(g);
    c["gates"] = kept;
  }
  return c;
}

const json* find_case(const json& report, const std::string& name) {
  for (const json& c : report["cases"])
    if (c["name"] == name) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("batch: dump --all writes manifest.json in suite order and last", "[batch][cli]") {
  TempDir dir("batch_manifest");
  const fs::path tree = dir.path / "p2";
  auto r = run_cli("dump -q -c configs/phase2.json --all --out " + tree.string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains((tree / "manifest.json").string() + ": manifest of "));
  const json m = read_json(tree / "manifest.json");
  CHECK(m["schema"] == "attn-diff.dump-manifest.v1");
  CHECK(m["tool"]["name"] == "attn-diff");
  CHECK(m["suite"] == "phase2");
  CHECK(m["config"] == "configs/phase2.json");
  CHECK(m["format"] == "npy");
  CHECK(m["layout"] == "bshd");
  CHECK(m["seed"].is_null());
  // The digest `run` puts in its report's "run" object, so the two can be matched.
  r = run_cli("run -q -c configs/phase1.json --case basic --json " + (dir.path / "r.json").string());
  REQUIRE(r.code == 0);
  const auto d = run_cli("dump -q -c configs/phase1.json --case 'basic*' --seed 7 --out " + (dir.path / "p1").string());
  REQUIRE(d.code == 0);
  const json m1 = read_json(dir.path / "p1" / "manifest.json");
  CHECK(m1["config_digest"] == read_json(dir.path / "r.json")["run"]["config_digest"]);
  CHECK(m1["seed"] == 7);
  CHECK(m1["cases"].size() == 2);

  std::vector<std::string> names;
  for (const json& c : m["cases"]) {
    names.push_back(c["name"]);
    const std::string name = c["name"];
    CHECK(c["dir"] == name);
    CHECK(c["out"] == name + ".npy");
    // The shapes agree with the case's own case.json, which compare reads.
    const json spec = read_json(tree / name / "case.json")["cases"][0];
    const json& s = c["shape"];
    CHECK(s["tokens"] == spec["tokens"]);
    CHECK(s["heads"] == spec["heads"]);
    CHECK(s["head_dim"] == spec["head_dim"]);
    CHECK(c["out_shape"] == json::array({s["batch"], s["tokens"], s["heads"], s["head_dim"]}));
    CHECK(c["sinks"] == fs::exists(tree / name / "sinks.npy"));
  }
  CHECK(names == suite_case_names("configs/phase2.json"));

  // One case named exactly writes DIR itself, and no manifest (it is not a tree).
  r = run_cli("dump -q -c configs/phase1.json --case sinks --out " + (dir.path / "one").string());
  REQUIRE(r.code == 0);
  CHECK_FALSE(fs::exists(dir.path / "one" / "manifest.json"));

  // Dumping a smaller selection into the same folder rewrites the manifest for that selection.
  r = run_cli("dump -q -c configs/phase2.json --case 'combo_full_*' --out " + tree.string());
  REQUIRE(r.code == 0);
  const json smaller = read_json(tree / "manifest.json");
  std::size_t combos = 0;
  for (const std::string& n : suite_case_names("configs/phase2.json")) combos += n.rfind("combo_full_", 0) == 0;
  CHECK(smaller["cases"].size() == combos);
  CHECK(combos < names.size());
  for (const json& c : smaller["cases"])
    CHECK_THAT(c["name"].get<std::string>(), Contains("combo_full_"));
}

TEST_CASE("batch: compare of the built-in kernel's outputs over phase1-3 agrees with run case by case",
          "[batch][cli]") {
  TempDir dir("batch_done_when");
  std::size_t total = 0;
  for (const std::string phase : {"phase1", "phase2", "phase3"}) {
    const std::string config = "configs/" + phase + ".json";
    const fs::path tree = dir.path / phase, out = dir.path / (phase + "_out");
    dump_tree(config, tree, out);
    const fs::path run_json = dir.path / (phase + "_run.json"), cmp_json = dir.path / (phase + "_cmp.json");
    const auto r = run_cli("run -q -j 2 -c " + config + " --json " + run_json.string());
    const auto c = run_cli("compare -q -j 2 --inputs " + tree.string() + " --candidate " + out.string() + " --json " +
                           cmp_json.string());
    INFO(phase << "\nrun:\n" << r.out << "\ncompare:\n" << c.out);
    CHECK(c.code == r.code);
    const json run = read_json(run_json), cmp = read_json(cmp_json);
    CHECK(cmp["summary"] == run["summary"]);
    CHECK(cmp["suite"] == run["suite"]);
    CHECK(cmp["run"]["config_digest"] == run["run"]["config_digest"]);
    CHECK(cmp["run"]["candidate"] == "external");
    REQUIRE(cmp["cases"].size() == run["cases"].size());
    for (std::size_t i = 0; i < run["cases"].size(); ++i) {
      const json& a = run["cases"][i];
      const json& b = cmp["cases"][i];
      INFO("case " << a["name"]);
      CHECK(b["name"] == a["name"]);  // suite order
      CHECK(b["kernel"] == "external");
      CHECK(a["kernel"] == "tiled");
      CHECK(b["verdict"] == a["verdict"]);
      CHECK(b["metrics"]["vs_golden"] == a["metrics"]["vs_golden"]);
      CHECK(b["metrics"]["vs_naive"] == a["metrics"]["vs_naive"]);
      CHECK(b["metrics"]["naive_vs_golden"] == a["metrics"]["naive_vs_golden"]);
      // The tiled kernel's own error, which compare adds for an external candidate, is the
      // candidate's error here: the candidate is the tiled kernel.
      CHECK(b["metrics"]["expected_vs_golden"] == a["metrics"]["vs_golden"]);
      bool extra_gate = false;
      for (const json& g : b["gates"])
        if (g["name"] == "max_abs_vs_expected") extra_gate = g["pass"] == true;
      CHECK(extra_gate);
      CHECK(comparable(b) == comparable(a));  // every other field: gates, worst, breakdown, coverage, ...
      ++total;
    }
  }
  CHECK(total == 35);
}

TEST_CASE("batch: a wrong output fails its case and the others pass: exit 1 and diagnosed", "[batch][cli]") {
  TempDir dir("batch_fail");
  const fs::path tree = dir.path / "t", out = dir.path / "o";
  dump_tree("configs/phase1.json", tree, out);
  write_scaled(tree / "sinks" / "tiled.npy", out / "sinks.npy", 1.25);
  const fs::path report = dir.path / "r.json", junit = dir.path / "r.xml", md = dir.path / "r.md";
  auto r = run_cli("compare -j 2 --inputs " + tree.string() + " --candidate " + out.string() + " --json " +
                   report.string() + " --junit " + junit.string() + " --md " + md.string());
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("phase1: 8 cases, 7 passed, 1 failed"));
  CHECK_THAT(r.out, Contains("diagnosis of sinks:"));
  const json j = read_json(report);
  for (const json& c : j["cases"]) {
    INFO(c["name"]);
    CHECK(c["verdict"] == (c["name"] == "sinks" ? "fail" : "pass"));
  }
  CHECK(find_case(j, "sinks")->contains("diagnosis"));
  CHECK_THAT(read_text(junit.string()), Contains("<failure"));
  CHECK_THAT(read_text(md.string()), Contains("sinks"));

  // `run --candidate-cmd` handed the same files writes the same case objects, diagnosis included;
  // only the timings and its command's record ("candidate": seconds, output) are its own.
  const fs::path via_run = dir.path / "run.json";
  const auto v = run_cli("run -q -j 2 -c configs/phase1.json --candidate-cmd 'cp " + out.string() +
                         "/{case}.npy {out}' --json " + via_run.string());
  INFO(v.out);
  CHECK(v.code == 1);
  const json vr = read_json(via_run);
  REQUIRE(vr["cases"].size() == j["cases"].size());
  for (std::size_t i = 0; i < j["cases"].size(); ++i) {
    json a = vr["cases"][i], b = j["cases"][i];
    INFO(a["name"]);
    CHECK(a.contains("candidate"));
    for (json* c : {&a, &b})
      for (const char* key : {"seconds", "peak_memory_bytes", "candidate"}) c->erase(key);
    CHECK(a == b);
  }

  // --no-diagnose: the same verdicts without the diagnosis; --case selects the cases judged.
  r = run_cli("compare -q -j 2 --no-diagnose --case 'sinks*' --inputs " + tree.string() + " --candidate " +
              out.string() + " --json " + report.string());
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("phase1: 2 cases, 1 passed, 1 failed"));
  const json k = read_json(report);
  REQUIRE(k["cases"].size() == 2);
  CHECK(k["cases"][0]["name"] == "sinks");
  CHECK_FALSE(k["cases"][0].contains("diagnosis"));
  CHECK(k["cases"][1]["name"] == "sinks_small_tiles");
  CHECK(k["cases"][1]["verdict"] == "pass");
  CHECK(k["run"]["cases"] == json::array({"sinks*"}));

  // --inputs may name the manifest itself.
  r = run_cli("compare -q -j 2 --case 'basic*' --inputs " + (tree / "manifest.json").string() + " --candidate " +
              out.string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("phase1: 2 cases, 2 passed, 0 failed"));
}

TEST_CASE("batch: a missing or unreadable or wrong-shape output is an error naming the file and the rest is judged",
          "[batch][cli]") {
  TempDir dir("batch_errors");
  const fs::path tree = dir.path / "t", out = dir.path / "o";
  dump_tree("configs/phase1.json", tree, out);
  fs::remove(out / "basic.npy");
  std::ofstream(out / "causal.npy") << "not an array";
  fs::copy_file(out / "basic_small_tiles.npy", out / "sinks.npy", fs::copy_options::overwrite_existing);  // [1,4,2,4]
  // The folder form <case>/out.npy is accepted; a second output for one case is an error.
  fs::create_directories(out / "sliding_window");
  fs::rename(out / "sliding_window.npy", out / "sliding_window" / "out.npy");
  fs::create_directories(out / "causal_small_tiles");
  fs::copy_file(out / "causal_small_tiles.npy", out / "causal_small_tiles" / "out.npy");
  // Outputs for cases the manifest does not have: a note, not judged; other files are ignored.
  fs::copy_file(out / "sinks_small_tiles.npy", out / "extra.npy");
  std::ofstream(out / "kernel.log") << "log";

  const fs::path report = dir.path / "r.json";
  const auto r = run_cli("compare -j 2 --inputs " + tree.string() + " --candidate " + out.string() + " --json " +
                         report.string());
  INFO(r.out);
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains("phase1: 8 cases, 4 passed, 0 failed, 4 errors"));
  CHECK_THAT(r.out, Contains(out.string() + ": note: 1 output for no case of the manifest, not judged: extra.npy"));
  const json j = read_json(report);
  REQUIRE(j["cases"].size() == 8);
  const auto error_of = [&](const std::string& name) {
    const json* c = find_case(j, name);
    REQUIRE(c);
    CHECK((*c)["verdict"] == "error");
    CHECK((*c)["kernel"] == "external");
    return (*c)["error"].get<std::string>();
  };
  CHECK_THAT(error_of("basic"), Contains("no output for the case: none of " + (out / "basic.npy").string() + ", " +
                                         (out / "basic.safetensors").string() + ", " +
                                         (out / "basic" / "out.npy").string()));
  CHECK_THAT(error_of("causal"), Contains("the output is unusable: " + (out / "causal.npy").string()));
  CHECK_THAT(error_of("sinks"), Contains("the output is unusable: " + (out / "sinks.npy").string()));
  CHECK_THAT(error_of("sinks"), Contains("[1, 4, 2, 4]"));
  CHECK_THAT(error_of("causal_small_tiles"), Contains("2 outputs for the case (" +
                                                      (out / "causal_small_tiles.npy").string() + ", " +
                                                      (out / "causal_small_tiles" / "out.npy").string() + ")"));
  CHECK(find_case(j, "sliding_window")->at("verdict") == "pass");
  CHECK(find_case(j, "sinks_small_tiles")->at("verdict") == "pass");
  // An error case carries the references' metrics as `run` does for an unusable command output.
  CHECK_FALSE(find_case(j, "basic")->contains("metrics"));
  CHECK(find_case(j, "basic")->contains("peak_memory_bytes"));
}

TEST_CASE("batch: a broken tree or a wrong pairing is refused with exit 2 naming the file and key and nothing written",
          "[batch][cli]") {
  TempDir dir("batch_bad");
  const fs::path tree = dir.path / "t", out = dir.path / "o";
  dump_tree("configs/phase1.json", tree, out);
  const fs::path report = dir.path / "r.json";
  const std::string tail = " --candidate " + out.string() + " --json " + report.string();
  const std::string manifest = (tree / "manifest.json").string();
  const std::string good = read_text(manifest);

  SECTION("a case folder that is missing") {
    fs::remove_all(tree / "causal");
    const auto r = run_cli("compare --inputs " + tree.string() + tail);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(manifest + ": error: 'cases[1].dir' names '" + (tree / "causal").string() +
                               "', which is not a folder"));
  }
  SECTION("a case folder without case.json") {
    fs::remove(tree / "sinks" / "case.json");
    const auto r = run_cli("compare --inputs " + tree.string() + tail);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(manifest + ": error: 'cases[3].dir' names '" + (tree / "sinks").string() +
                               "', which holds no case.json"));
  }
  SECTION("malformed JSON") {
    std::ofstream(manifest) << good.substr(0, good.size() / 2);
    const auto r = run_cli("compare --inputs " + tree.string() + tail);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(manifest + ":"));
    CHECK_THAT(r.out, Contains("error: malformed JSON"));
  }
  SECTION("a key of the wrong type or a wrong schema or a dir leaving the tree or a name twice") {
    const std::vector<std::pair<std::function<void(json&)>, std::string>> edits = {
        {[](json& m) { m["cases"][2]["out"] = 5; }, "'cases[2].out' is a number, not a string"},
        {[](json& m) { m["cases"][0].erase("dir"); }, "'cases[0].dir' is missing"},
        {[](json& m) { m["schema"] = "attn-diff.dump-manifest.v9"; }, "'schema' is \"attn-diff.dump-manifest.v9\""},
        {[](json& m) { m["cases"] = json::object(); }, "'cases' is an object, not an array"},
        {[](json& m) { m["cases"][1]["dir"] = "../t/causal"; }, "'cases[1].dir' '../t/causal' leaves the manifest's folder"},
        {[](json& m) { m["cases"][1]["out"] = "/tmp/x.npy"; }, "'cases[1].out' '/tmp/x.npy' is not a file name relative"},
        {[](json& m) { m["cases"][1]["name"] = "basic"; }, "'cases[1].name' 'basic' is listed twice"},
        {[](json& m) { m["cases"][1]["name"] = "other"; }, "'cases[1].name' is 'other', but "},
    };
    for (const auto& [edit, message] : edits) {
      json m = json::parse(good);
      edit(m);
      std::ofstream(manifest) << m.dump(2);
      const auto r = run_cli("compare --inputs " + tree.string() + tail);
      INFO(message << "\n" << r.out);
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Contains(manifest + ": error: " + message));
    }
  }
  SECTION("a file as --candidate or a folder against one case or --case against one case or matching nothing") {
    auto r = run_cli("compare --inputs " + tree.string() + " --candidate " + (out / "basic.npy").string());
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("is a batch dump (manifest.json), so --candidate must be the folder of its outputs"));
    r = run_cli("compare --inputs " + (tree / "basic").string() + tail);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(out.string() + ": error: is a directory, not a file"));  // single-case compare's own
    r = run_cli("compare --inputs " + (tree / "basic").string() + " --candidate " + (out / "basic.npy").string() +
                " --case basic");
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: --case selects cases of a batch dump"));
    r = run_cli("compare --inputs " + tree.string() + tail + " --case 'nope*'");
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(manifest + ": error: no case of the manifest matches --case nope*"));
    CHECK_THAT(r.out, Contains("note: cases: basic, causal, sliding_window, sinks,"));
  }
  CHECK_FALSE(fs::exists(report));
}

TEST_CASE("batch: Ctrl-C during a tree writes the report of the cases judged marked incomplete and exits 130",
          "[batch][cli][interrupt]") {
  TempDir dir("batch_interrupt");
  // A case that takes a second or more to judge between two that take milliseconds.
  const std::string suite = dir.file("suite.json", R"({"suite": "three", "cases": [
    {"name": "small", "tokens": 8, "heads": 2, "head_dim": 16},
    {"name": "big", "tokens": 2048, "heads": 16, "kv_heads": 4, "head_dim": 64, "causal": false},
    {"name": "after", "tokens": 8, "heads": 2, "head_dim": 16}]})");
  const fs::path tree = dir.path / "t", out = dir.path / "o";
  dump_tree(suite, tree, out);
  fs::copy_file(out / "small.npy", out / "stray.npy");  // its note is printed just before the first case
  const std::string log = (dir.path / "log.txt").string(), report = (dir.path / "r.json").string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!std::freopen(log.c_str(), "w", stdout) || ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) ::_exit(127);
    const std::string inputs = tree.string(), outputs = out.string();
    ::execl(ATTN_DIFF_BINARY, ATTN_DIFF_BINARY, "compare", "-j", "2", "--inputs", inputs.c_str(), "--candidate",
            outputs.c_str(), "--json", report.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait (bounded) for the note, so the signal handlers are installed and judging has begun.
  const auto start = std::chrono::steady_clock::now();
  while (read_text(log).find("note: 1 output for no case") == std::string::npos &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string text = read_text(log);
  INFO(text);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(text, Contains("attn-diff: interrupted: "));
  const json j = read_json(report);
  CHECK(j["summary"]["incomplete"] == true);
  CHECK(j["cases"].size() <= 2);  // "after" is never judged
  CHECK(j["cases"].size() + j["summary"]["not_run"].get<std::size_t>() == 3);
}

TEST_CASE("batch: --layout applies to every output and a .safetensors output is found by its name", "[batch][cli]") {
  TempDir dir("batch_layout");
  const fs::path tree = dir.path / "t", out = dir.path / "o";
  dump_tree("configs/phase1.json", tree, out);
  // Every output rewritten as bhsd: [B, Sq, H, D] -> [B, H, Sq, D].
  const json manifest = read_json(tree / "manifest.json");
  for (const json& c : manifest["cases"]) {
    attn::Array a;
    std::string err;
    const fs::path file = out / c["out"].get<std::string>();
    REQUIRE(attn::read_npy(file.string(), &a, &err));
    const std::int64_t B = a.shape[0], S = a.shape[1], H = a.shape[2], D = a.shape[3];
    std::vector<float> t(a.values.size());
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::int64_t d = 0; d < D; ++d)
            t[std::size_t(((b * H + h) * S + s) * D + d)] = float(a.values[std::size_t(((b * S + s) * H + h) * D + d)]);
    REQUIRE(attn::write_npy_f32(file.string(), {B, H, S, D}, t, &err));
  }
  // One of them as OUT/<case>.safetensors instead of OUT/<case>.npy.
  {
    attn::Array a;
    std::string err;
    REQUIRE(attn::read_npy((out / "causal.npy").string(), &a, &err));
    REQUIRE(attn::write_safetensors((out / "causal.safetensors").string(),
                                    {{.name = "out", .shape = a.shape, .dtype = attn::ArrayDType::f32, .values = a.values}},
                                    &err));
    fs::remove(out / "causal.npy");
  }
  const std::string args = "compare -q -j 2 --inputs " + tree.string() + " --candidate " + out.string();
  auto r = run_cli(args + " --layout bhsd");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("phase1: 8 cases, 8 passed, 0 failed"));
  r = run_cli(args);  // read as bshd, every file has the wrong shape (basic's [1,2,4,4] fits no bshd)
  INFO(r.out);
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains("phase1: 8 cases, 0 passed, 0 failed, 8 errors"));
  CHECK_THAT(r.out, Contains("causal: error: the output is unusable: " + (out / "causal.safetensors").string()));
  CHECK_THAT(r.out, Contains("pass --layout 'bhsd')"));
}
