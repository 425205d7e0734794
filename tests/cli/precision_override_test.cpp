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

namespace {

// One small case with the recipe's default gates (none of its own), in `precision`.
std::string small_suite(TempDir& dir, const std::string& name, const std::string& precision) {
  const json c = {{"name", "c"},     {"tokens", 16}, {"kv_tokens", 24}, {"heads", 4}, {"kv_heads", 2},
                  {"head_dim", 16},  {"causal", true}, {"sinks", {{"dist", "normal"}, {"std", 1.0}}}, {"seed", 5},
                  {"precision", precision}};
  return dir.file(name, json{{"suite", "small"}, {"cases", {c}}}.dump());
}

}  // namespace

TEST_CASE("precision override: compare --precision judges a dump as if its case declared the recipe", "[precision][cli]") {
  TempDir dir("precision_compare");
  // The same draws dumped in fp32 (the raw values) and in fp32+kv=fp16.
  const std::string suite = small_suite(dir, "fp32.json", "fp32");
  const std::string raw = (dir.path / "raw").string(), half = (dir.path / "half").string();
  REQUIRE(run_cli("dump -q -c " + suite + " --case c --out " + raw).code == 0);
  REQUIRE(run_cli("dump -q -c " + suite + " --case c --precision fp32+kv=fp16 --out " + half).code == 0);
  const std::string kernel = half + "/tiled.npy";  // a kernel that stores K and V in fp16

  // As dumped (fp32) the fp16-K/V kernel misses fp32's gates.
  const auto plain = run_cli("compare -q --inputs " + raw + " --candidate " + kernel);
  INFO(plain.out);
  CHECK(plain.code == 1);
  // Judged in its recipe: the references are computed on the fp32 inputs stored again in fp16, which
  // is what the kernel read, so it is the built-in kernel judged in that recipe and passes.
  const std::string over = (dir.path / "over.json").string(), direct = (dir.path / "direct.json").string();
  const auto r = run_cli("compare -q --inputs " + raw + " --candidate " + kernel + " --precision fp32+v=fp16+k=fp16 --json " + over);
  INFO(r.out);
  CHECK(r.code == 0);
  // Bit for bit what comparing against the dump made in that recipe gives.
  REQUIRE(run_cli("compare -q --inputs " + half + " --candidate " + kernel + " --json " + direct).code == 0);
  const json a = read_json(over)["cases"][0], b = read_json(direct)["cases"][0];
  CHECK(a["precision"] == "fp32+k=fp16+v=fp16");
  CHECK(without_timings(a) == without_timings(b));

  // A bf16 dump judged as fp32+kv=fp16: fp32's gates, which a bf16 kernel's output misses; the
  // dump-vs-regenerated check is against the case's own recipe, so it is a verdict, not bad input.
  const std::string bf16 = (dir.path / "bf16").string();
  REQUIRE(run_cli("dump -q -c " + small_suite(dir, "bf16.json", "bf16-mixed") + " --case c --out " + bf16).code == 0);
  const std::string bf16_report = (dir.path / "bf16_report.json").string();
  const auto f = run_cli("compare -q --inputs " + bf16 + " --candidate " + bf16 + "/tiled.npy --precision fp32+kv=fp16 --json " +
                         bf16_report);
  INFO(f.out);
  CHECK(f.code == 1);
  const json fc = read_json(bf16_report)["cases"][0];
  CHECK(fc["precision"] == "fp32+k=fp16+v=fp16");
  CHECK(fc["verdict"] == "fail");
  // Its own recipe named again changes nothing.
  const std::string own = (dir.path / "own.json").string(), none = (dir.path / "none.json").string();
  REQUIRE(run_cli("compare -q --inputs " + bf16 + " --candidate " + bf16 + "/tiled.npy --precision bf16-mixed --json " + own).code == 0);
  REQUIRE(run_cli("compare -q --inputs " + bf16 + " --candidate " + bf16 + "/tiled.npy --json " + none).code == 0);
  CHECK(without_timings(read_json(own)["cases"]) == without_timings(read_json(none)["cases"]));

  // An edited input is still refused (exit 2): the check is against the dump's own recipe.
  json cj = read_json(bf16 + "/case.json");
  cj["cases"][0]["seed"] = 6;
  dir.file("bf16/case.json", cj.dump(2));
  const auto e = run_cli("compare -q --inputs " + bf16 + " --candidate " + bf16 + "/tiled.npy --precision fp32");
  INFO(e.out);
  CHECK(e.code == 2);
  CHECK(e.out.find("differs from the inputs case.json generates") != std::string::npos);
}

TEST_CASE("precision override: compare --precision on a tree judges every case in the recipe", "[precision][cli]") {
  TempDir dir("precision_compare_tree");
  const std::string tree = (dir.path / "tree").string(), outs = (dir.path / "outs").string();
  REQUIRE(run_cli("dump -q -c configs/phase1.json --all --out " + tree).code == 0);
  const json manifest = read_json(tree + "/manifest.json");
  std::filesystem::create_directories(outs);
  for (const json& mc : manifest["cases"]) {
    const std::string name = mc["name"].get<std::string>();
    std::filesystem::copy_file(tree + "/" + mc["dir"].get<std::string>() + "/tiled.npy", outs + "/" + name + ".npy");
  }
  const std::string own = (dir.path / "own.json").string(), fp32 = (dir.path / "fp32.json").string();
  REQUIRE(run_cli("compare -q --inputs " + tree + " --candidate " + outs + " --json " + own).code == 0);
  // The bf16 kernel's outputs judged as fp32: they miss fp32's gates.
  const auto r = run_cli("compare -q --inputs " + tree + " --candidate " + outs + " --precision fp32 --json " + fp32);
  INFO(r.out);
  CHECK(r.code == 1);
  const json rep = read_json(fp32);
  CHECK(rep["run"]["precision"] == "fp32");
  CHECK_FALSE(read_json(own)["run"].contains("precision"));  // recorded only when given
  REQUIRE(rep["cases"].size() == manifest["cases"].size());
  for (const json& c : rep["cases"]) CHECK(c["precision"] == "fp32");
  // Each case as `compare` of that one case with --precision says.
  const json& first = manifest["cases"][0];
  const std::string one = (dir.path / "one.json").string();
  run_cli("compare -q --inputs " + tree + "/" + first["dir"].get<std::string>() + " --candidate " + outs + "/" +
          first["name"].get<std::string>() + ".npy --precision fp32 --json " + one);
  CHECK(without_timings(read_json(one)["cases"][0]) == without_timings(rep["cases"][0]));
}

TEST_CASE("precision override: compare and bench refuse a bad recipe with exit 2", "[precision][cli]") {
  TempDir dir("precision_bad");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -q -c " + small_suite(dir, "s.json", "fp32") + " --case c --out " + d).code == 0);
  struct Row {
    std::string recipe, message;
  };
  const Row rows[] = {
      {"bf16", "--precision: 'bf16' is not a recipe: a preset (fp32, bf16-mixed, fp16-mixed, fp8-e4m3, int8)"},
      {"fp32+kvv=fp16", "unknown recipe key 'kvv' (did you mean 'kv'?)"},
      {"fp32+k=fp64", "'k' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, got 'fp64'"},
      {"fp32+q=int8", "q and k are int8 together or not at all"},
      {"fp32+", "'' in 'fp32+' is not key=value"},
  };
  for (const Row& row : rows)
    for (const std::string cmd : {"compare --inputs " + d + " --candidate " + d + "/tiled.npy", std::string("bench"),
                                  "bench -c " + dir.file("s.json")}) {
      INFO(cmd << " --precision " << row.recipe);
      const auto r = run_cli(cmd + " --precision '" + row.recipe + "'");
      CHECK(r.code == 2);
      CHECK(r.out.find(row.message) != std::string::npos);
    }
}

TEST_CASE("precision override: bench --precision takes recipes, and overrides a --config case as run does", "[precision][cli]") {
  TempDir dir("precision_bench");
  const std::string suite = small_suite(dir, "s.json", "bf16-mixed");
  const std::string fast = " --only tiled --repeats 1 --warmup 0 --probe-seconds 0 -j 1 --json ";
  const std::string a = (dir.path / "a.json").string(), b = (dir.path / "b.json").string(), c = (dir.path / "c.json").string();
  const auto over = run_cli("bench -c " + suite + " --precision fp32+kv=fp16" + fast + a);
  INFO(over.out);
  REQUIRE(over.code == 0);
  CHECK(over.out.find("fp32+k=fp16+v=fp16") != std::string::npos);  // the case line names the recipe
  CHECK(read_json(a)["case"]["precision"] == "fp32+k=fp16+v=fp16");
  REQUIRE(run_cli("bench -c " + suite + fast + b).code == 0);
  CHECK(read_json(b)["case"]["precision"] == "bf16-mixed");
  // The shape mode: the shape's own recipe.
  const auto shape = run_cli("bench --tokens 16 --heads 2 --kv-heads 1 --head-dim 8 --precision fp16-mixed+acc_pv=fp16" + fast + c);
  INFO(shape.out);
  REQUIRE(shape.code == 0);
  CHECK(read_json(c)["case"]["precision"] == "fp16-mixed+acc_pv=fp16");
}

TEST_CASE("precision override: the run record names the recipe canonically, so spellings of one recipe merge", "[precision][cli]") {
  TempDir dir("precision_merge_spelling");
  const std::string a = (dir.path / "a.json").string(), b = (dir.path / "b.json").string(), m = (dir.path / "m.json").string();
  REQUIRE(run_cli("run -q -c configs/phase1.json --shard 1/2 --precision fp32+kv=f16 --json " + a).code == 0);
  REQUIRE(run_cli("run -q -c configs/phase1.json --shard 2/2 --precision fp32+v=fp16+k=fp16+q=fp32 --json " + b).code == 0);
  CHECK(read_json(a)["run"]["precision"] == "fp32+k=fp16+v=fp16");
  CHECK(read_json(b)["run"]["precision"] == "fp32+k=fp16+v=fp16");
  const auto r = run_cli("merge " + a + " " + b + " --json " + m);
  INFO(r.out);
  CHECK(r.code == 0);
  // exp2 and mask_value given on the command line are part of what a run was.
  const std::string e = (dir.path / "e.json").string();
  REQUIRE(run_cli("run -q -c configs/phase1.json --case basic --precision fp32+exp2=true --json " + e).code == 0);
  CHECK(read_json(e)["run"]["precision"] == "fp32+exp2=true");
}
