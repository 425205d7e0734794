// Shrink on backward cases (SPEC §10): from one backward case that every backward mutant fails,
// shrink ends at a case of a token or two that still fails the same tensor gate (named
// "<tensor>: <gate>"), is still diagnosed as the same mutant on its tensors, keeps what the bug
// needs by construction (sinks for the dsinks bugs, a GQA group for dK/dV from one head, a partial
// KV tile, ...), and is a fixpoint: no single proposal of any pass reproduces.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "kernels/mutants.hpp"
#include "src/judge/coverage.hpp"
#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"
#include "src/tools/shrink.hpp"
#include "tests/shrink_checks.hpp"

using namespace attn;
using nlohmann::json;

namespace {

// 100 queries at offset 30 over 130 keys in 32 × 32 tiles (partial last tiles: 130 = 4 × 32 + 2),
// 4 query heads on 2 KV heads, D 16, a 40-key window, sinks, bf16-mixed.
CaseSpec start_case() {
  const json c = {{"name", "start"},  {"tokens", 100},  {"kv_tokens", 130}, {"heads", 4},
                  {"kv_heads", 2},    {"head_dim", 16}, {"window", 40},     {"tiles", {{"q", 32}, {"kv", 32}}},
                  {"sinks", {{"dist", "normal"}, {"std", 1.0}}},            {"precision", "bf16-mixed"},
                  {"backward", true}};
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(json{{"cases", {c}}}, "start.json", {}, &s, &d));
  return s.cases[0];
}

bool covers(const CaseSpec& c, const std::string& path) {
  const std::vector<std::string> paths = compute_coverage(c, make_inputs(c, 1));
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

using Claim = std::function<void(const CaseSpec&)>;

// What each bug needs, beyond its coverage paths (checked for every mutant).
std::map<std::string, Claim> claims() {
  using C = const CaseSpec&;
  std::map<std::string, Claim> m;
  m["bwd_dsinks_zero"] = [](C c) { CHECK(c.problem.has_sinks); };
  m["bwd_lse_no_sink"] = [](C c) { CHECK(c.problem.has_sinks); };
  m["bwd_dkv_one_head"] = [](C c) { CHECK(c.problem.shape.q_mult() >= 2); };
  m["bwd_dq_no_scale"] = [](C) {};
  m["bwd_no_delta"] = [](C) {};
  m["bwd_window_off_by_one"] = [](C c) { CHECK(c.problem.window > 0); };
  m["bwd_causal_ignored"] = [](C c) { CHECK(c.problem.causal); };
  m["bwd_kv_tail_dropped"] = [](C c) { CHECK(c.problem.shape.kv_tokens % c.tiles.kv != 0); };
  m["bwd_dq_last_tile"] = [](C c) { CHECK(c.problem.shape.kv_tokens > c.tiles.kv); };
  return m;
}

}  // namespace

TEST_CASE("every backward mutant shrinks to a case of a token or two that fails the same tensor gate",
          "[shrink][backward]") {
  const CaseSpec start = start_case();
  const auto claim = claims();
  std::size_t checked = 0;
  for (const MutantInfo& m : mutants()) {
    if (!m.backward) continue;
    INFO("mutant " << m.name);
    REQUIRE(claim.count(m.name) == 1);  // a new backward mutant needs its claim here
    const Candidate cand = mutant_candidate(m, 1);
    const ShrinkResult r = shrink_case(start, cand, {.threads = 1, .max_runs = 2000, .max_seconds = 120});
    REQUIRE(r.status == ShrinkResult::Status::shrunk);
    CHECK(r.stopped == "fixpoint");
    // The output is right (a backward bug): the failing gate is a tensor's, and the tensors'
    // diagnosis names the mutant on the original.
    const std::string tensor = r.reason.gate.substr(0, r.reason.gate.find(':'));
    CHECK(tensor_index(tensor) < BackwardTensors::kNames.size());
    CHECK(r.hypothesis_from == "original");
    CHECK(r.reason.hypothesis == m.name);

    const CaseSpec& c = r.minimal;
    const Shape& s = c.problem.shape;
    INFO("minimal: " << compact_case_json(c).dump());
    CHECK(c.backward);
    CHECK(s.batch == 1);
    CHECK(s.tokens <= 2);
    CHECK(s.kv_tokens <= 4);
    CHECK(s.heads <= 2);
    CHECK(s.head_dim <= 2);
    // The coverage paths in the mutant table are the forward paths' (gqa_grouped asks for two KV
    // heads, partial_kv_tail for two KV tiles); the backward bugs show with less, so the claims
    // below say what each needs. Sinks, the window and causal rows are paths of their own.
    CHECK(covers(c, "backward"));
    for (const char* path : {"sinks", "window_cuts_row", "causal_cuts_row"})
      if (std::find(m.needs.begin(), m.needs.end(), path) != m.needs.end()) CHECK(covers(c, path));
    claim.at(m.name)(c);
    test::check_same_failure(r, cand, 1);  // same gate, correct kernel passes, the same diagnosis
    const Predicate still_fails(cand, r.reason, 1);
    for (const ShrinkPass& pass : shrink_passes())
      for (const CaseSpec& raw : pass.propose(c)) {
        CaseSpec p;
        if (revalidate(raw, &p)) CHECK(still_fails(p) != Repro::same_failure);
      }
    ++checked;
  }
  CHECK(checked == 9);
}
