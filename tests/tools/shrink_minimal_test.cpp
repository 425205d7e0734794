// Minimality claims per mutant: from one moderately sized case (300 queries at offset 65 over 365
// keys, 64 x 128 tiles, 4 query heads on 2 kv heads, D 16, a 96-key window, sinks) every built-in
// mutant fails, shrink must end at a case of a few dozen tokens that still fails the same gate with
// the same top hypothesis, and that keeps what the bug needs by construction (two KV tiles with a
// partial last one for kv_tail_dropped, an offset for prefix_skipped, ...). The start case is
// generated here, not read from phase4, to keep the suite fast.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "kernels/mutants.hpp"
#include "src/judge/coverage.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"
#include "src/tools/shrink.hpp"
#include "tests/cli_helpers.hpp"
#include "tests/shrink_checks.hpp"

using namespace attn;
using nlohmann::json;

namespace {

std::int64_t tiles_of(std::int64_t n, std::int64_t tile) { return (n + tile - 1) / tile; }

// The start case: offset 65 puts the end of the first query tile (position 128) on the first key of
// the second KV tile, so that tile holds one visible key; 365 = 2 x 128 + 109 and 300 = 4 x 64 + 44
// leave partial last tiles.
json start_json() {
  return {{"name", "start"},     {"tokens", 300},    {"kv_tokens", 365}, {"heads", 4},
          {"kv_heads", 2},       {"head_dim", 16},   {"window", 96},     {"tiles", {{"q", 64}, {"kv", 128}}},
          {"sinks", {{"dist", "normal"}, {"std", 1.0}}}, {"precision", "bf16-mixed"}};
}

// The start case of a mutant: the common one, except where the bug needs what it does not have.
json start_for(const std::string& mutant) {
  json j = start_json();
  j["name"] = mutant;
  if (mutant == "int8_saturation") j["precision"] = "int8";  // the mutant runs only the int8 recipe
  // A sink of std 1 against up to 96 visible keys moves the output by about 2x the eager bf16
  // reference's own error, which max_abs_vs_expected allows since it bounds by the envelope of
  // tiled and eager (docs/calibration.md); std 2 makes dropping it a clear failure.
  if (mutant == "no_sinks") j["sinks"]["std"] = 2.0;
  // A bf16 accumulator's error grows with the keys a row sums: within a 96-key window, or over
  // 16 columns, it stays inside that envelope too (at most 2x the eager reference's error plus
  // one bf16 ulp); without the window and at head_dim 64 it fails.
  if (mutant == "acc_bf16") {
    j["window"] = 0;
    j["head_dim"] = 64;
  }
  if (mutant == "finite_mask_leak") {                          // rows with no visible key, no sinks to hide them
    j["kv_tokens"] = 280;                                      // q_offset -20
    j["sinks"] = nullptr;
  }
  return j;
}

CaseSpec load_case(const json& j) {
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite({{"cases", {j}}}, "generated", {}, &s, &d));
  return s.cases.front();
}

bool covers(const CaseSpec& c, const std::string& path) {
  const auto cov = compute_coverage(c, make_inputs(c));
  return std::find(cov.begin(), cov.end(), path) != cov.end();
}

// What the smallest case must keep for each bug to be able to show: necessary by construction.
std::map<std::string, std::function<void(const CaseSpec&)>> necessary() {
  using C = const CaseSpec&;
  auto sinks_on = [](C c) { CHECK(c.problem.has_sinks); };
  std::map<std::string, std::function<void(C)>> m;
  m["no_sinks"] = sinks_on;
  m["sink_not_in_max"] = sinks_on;
  m["stale_max"] = sinks_on;  // one tile is enough: its own max leaves the sink out
  m["no_scale"] = [](C c) { CHECK(c.problem.scale != 1.0); };
  m["double_scale"] = m["no_scale"];
  m["window_off_by_one"] = [](C c) {
    CHECK(c.problem.window > 0);
    CHECK(c.problem.shape.kv_tokens > c.problem.window);  // a key just outside the window
  };
  m["causal_ignored"] = [](C c) {
    CHECK(c.problem.causal);
    CHECK(c.problem.shape.q_offset + c.problem.shape.tokens < c.problem.shape.kv_tokens + 1);
    CHECK(covers(c, "causal_cuts_row"));
  };
  m["no_rescale"] = [](C c) { CHECK(c.problem.shape.kv_tokens > c.tiles.kv); };
  m["gqa_interleaved"] = [](C c) {
    CHECK(c.problem.shape.q_mult() > 1);
    CHECK(c.problem.shape.kv_heads >= 2);
  };
  m["kv_tail_dropped"] = [](C c) {  // two KV tiles, the last one partial
    const std::int64_t Sk = c.problem.shape.kv_tokens, T = c.tiles.kv;
    CHECK(Sk > T);
    CHECK(Sk % T != 0);
    CHECK(tiles_of(Sk, T) == 2);
  };
  m["q_tail_dropped"] = [](C c) {  // two query tiles, the last one partial
    const std::int64_t Sq = c.problem.shape.tokens, T = c.tiles.q;
    CHECK(Sq > T);
    CHECK(Sq % T != 0);
    CHECK(tiles_of(Sq, T) == 2);
  };
  m["prefix_skipped"] = [](C c) { CHECK(c.problem.shape.q_offset > 0); };
  m["tile_skip_off_by_one"] = [](C c) { CHECK(covers(c, "one_key_tile")); };  // one key in one tile is enough
  m["acc_bf16"] = [](C c) { CHECK(c.recipe.name == "bf16-mixed"); };
  m["int8_saturation"] = [](C c) { CHECK(c.recipe.name == "int8"); };
  m["finite_mask_leak"] = [](C c) {
    CHECK(!c.problem.has_sinks);
    CHECK(c.problem.empty_rows() > 0);
  };
  return m;
}

}  // namespace

TEST_CASE("every mutant shrinks from a 300-token case to a few dozen tokens that keep its bug", "[shrink][minimal]") {
  const auto claims = necessary();
  for (const MutantInfo& m : mutants()) {
    INFO("mutant " << m.name);
    if (m.backward) continue;  // backward mutants: tests/tools/shrink_backward_test.cpp
    REQUIRE(claims.count(m.name) == 1);  // a new mutant needs its claim here
    const CaseSpec start = load_case(start_for(m.name));
    const Candidate cand = mutant_candidate(m, 2);
    const ShrinkResult r = shrink_case(start, cand, {.threads = 2, .max_runs = 2000, .max_seconds = 60});
    REQUIRE(r.status == ShrinkResult::Status::shrunk);
    CHECK(r.stopped == "fixpoint");  // not the run or time budget (how long it takes: docs/shrinking.md)
    // The mutant's output is its own prediction bit for bit: diagnose names it on the original.
    CHECK(r.hypothesis_from == "original");
    CHECK(r.reason.hypothesis == m.name);

    const CaseSpec& c = r.minimal;
    const Shape& s = c.problem.shape;
    INFO("minimal: " << compact_case_json(c).dump());
    CHECK(s.tokens <= 24);
    CHECK(s.kv_tokens <= 36);
    CHECK(s.batch == 1);
    for (const std::string& need : m.needs) CHECK(covers(c, need));
    claims.at(m.name)(c);

    test::check_same_failure(r, cand, 2);  // same gate, correct kernel passes, diagnose names the mutant
  }
}

TEST_CASE("a shrunk case written by attn-diff shrink fails attn-diff run with the same gate", "[shrink][cli]") {
  test::TempDir tmp("shrink_minimal_cli");
  const std::string config = tmp.file("start.json", json{{"cases", {start_for("kv_tail_dropped")}}}.dump());
  const std::string min = tmp.file("min.json"), report = tmp.file("shrink.json"), run = tmp.file("run.json");
  const std::string dump = (tmp.path / "dump").string();
  const auto r = test::run_cli("shrink -c '" + config + "' --case kv_tail_dropped --mutant kv_tail_dropped -j 2 -o '" +
                               min + "' --json '" + report + "' --dump '" + dump + "'");
  INFO(r.out);
  REQUIRE(r.code == 1);
  CHECK(r.out.find("original: diagnose ranks kv_tail_dropped first") != std::string::npos);

  // The reduction as data: every step's case loads, each no bigger than the one before.
  const json j = json::parse(std::ifstream(report));
  CHECK(j.at("schema") == "attn-diff.shrink.v1");
  CHECK(j.at("stopped") == "fixpoint");
  const std::string gate = j.at("reason").at("gate");
  CHECK(j.at("reason").at("hypothesis") == "kv_tail_dropped");
  REQUIRE(!j.at("steps").empty());
  std::int64_t previous = 365;
  for (const json& step : j.at("steps")) {
    const CaseSpec c = load_case(step.at("case"));
    CHECK(c.problem.shape.kv_tokens <= previous);
    previous = c.problem.shape.kv_tokens;
  }
  json last = j.at("steps").back().at("case");  // the minimal case is the last step's, named and tagged
  last["name"] = j.at("minimal").at("name");
  last["tags"] = j.at("minimal").at("tags");
  CHECK(last == j.at("minimal"));

  // `run` accepts the written config as is, and fails it on the same gate.
  const auto rerun = test::run_cli("run -c '" + min + "' --mutant kv_tail_dropped -q --json '" + run + "'");
  CHECK(rerun.code == 1);
  const json cases = json::parse(std::ifstream(run)).at("cases");
  REQUIRE(cases.size() == 1);
  CHECK(cases[0].at("verdict") == "fail");
  bool gate_failed = false;
  for (const json& g : cases[0].at("gates")) gate_failed |= g.at("name") == gate && g.at("pass") == false;
  CHECK(gate_failed);
  CHECK(test::run_cli("run -c '" + min + "' -q").code == 0);  // the correct kernel passes it

  // --dump: the minimal case's inputs and the candidate's output, as `dump` writes them.
  for (const char* f : {"case.json", "q.npy", "k.npy", "v.npy", "golden.npy", "naive.npy", "tiled.npy", "candidate.npy"})
    CHECK(std::filesystem::exists(std::filesystem::path(dump) / f));
  const auto diag = test::run_cli("diagnose --inputs '" + dump + "' --candidate '" + dump + "/candidate.npy'");
  CHECK(diag.out.find("1. kv_tail_dropped") != std::string::npos);
}
