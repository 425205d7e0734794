// The shrinker: each mutant's failure shrinks to the smallest case that shows its bug, the result
// still fails the same way and loads back as a config, a crashing candidate never ends a shrink,
// and every shrunk failure kept in tests/regressions/ still fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include "kernels/mutants.hpp"
#include "src/judge/coverage.hpp"
#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"
#include "src/tools/shrink.hpp"
#include "tests/cli_helpers.hpp"
#include "tests/shrink_checks.hpp"

using namespace attn;

namespace {

const std::string kSource = ATTN_DIFF_SOURCE_DIR;

Suite load(const std::string& path) {
  Suite s;
  Diagnostics diags;
  INFO(path);
  REQUIRE(load_suite(path, {}, &s, &diags));
  return s;
}

const CaseSpec& start_case(const std::string& mutant) {
  static const Suite suite = load(kSource + "/tests/data/shrink_start.json");
  for (const CaseSpec& c : suite.cases)
    if (c.name == mutant) return c;
  FAIL("tests/data/shrink_start.json has no case for " << mutant);
  throw std::logic_error("unreachable");
}

std::vector<std::string> coverage_of(const CaseSpec& c) { return compute_coverage(c, make_inputs(c)); }

bool covers(const CaseSpec& c, const std::string& path) {
  const auto cov = coverage_of(c);
  return std::find(cov.begin(), cov.end(), path) != cov.end();
}

// What the smallest case showing each bug must look like, beyond covering the mutant's `needs`.
using Claim = std::function<void(const CaseSpec&)>;
std::map<std::string, Claim> minimality_claims() {
  auto sinks_kept = [](const CaseSpec& c) { CHECK(c.problem.has_sinks); };
  std::map<std::string, Claim> m;
  m["no_sinks"] = sinks_kept;
  m["sink_not_in_max"] = sinks_kept;
  m["stale_max"] = sinks_kept;
  m["no_scale"] = [](const CaseSpec& c) { CHECK(c.problem.scale != 1.0); };  // D = 1 would hide it
  m["double_scale"] = m["no_scale"];
  m["window_off_by_one"] = [](const CaseSpec& c) {
    CHECK(c.problem.window > 0);
    CHECK(covers(c, "window_cuts_row"));
  };
  m["causal_ignored"] = [](const CaseSpec& c) {
    CHECK(c.problem.causal);
    CHECK(c.problem.shape.kv_tokens == 2);  // one row that does not see the other key
  };
  m["no_rescale"] = [](const CaseSpec& c) { CHECK(c.problem.shape.kv_tokens > c.tiles.kv); };
  m["gqa_interleaved"] = [](const CaseSpec& c) {
    CHECK(c.problem.shape.q_mult() > 1);
    CHECK(c.problem.shape.kv_heads > 1);
    CHECK(c.problem.shape.heads == 4);  // 2 kv heads × 2: the smallest grouping where h / 2 != h % 2
  };
  m["kv_tail_dropped"] = [](const CaseSpec& c) {  // exactly two KV tiles, the last one partial
    const std::int64_t Sk = c.problem.shape.kv_tokens, T = c.tiles.kv;
    CHECK(Sk > T);
    CHECK(Sk < 2 * T);
    CHECK(Sk == 3);
  };
  m["q_tail_dropped"] = [](const CaseSpec& c) {  // exactly two query tiles, the last one partial
    const std::int64_t Sq = c.problem.shape.tokens, T = c.tiles.q;
    CHECK(Sq > T);
    CHECK(Sq < 2 * T);
    CHECK(Sq == 3);
  };
  m["prefix_skipped"] = [](const CaseSpec& c) {
    CHECK(c.problem.shape.q_offset > 0);
    CHECK(c.problem.shape.kv_tokens == 2);
  };
  // Its start case's one-key tile is the partial last one, where kv_tail_dropped gives the same
  // output and comes first in the table: diagnose ranks kv_tail_dropped first, and the shrink keeps
  // that (two KV tiles, the last holding one key) rather than the one key a single tile could show.
  m["tile_skip_off_by_one"] = [](const CaseSpec& c) {
    CHECK(c.problem.shape.kv_tokens == 3);
    CHECK(c.tiles.kv == 2);
  };
  m["acc_bf16"] = [](const CaseSpec& c) { CHECK(c.recipe.name == "bf16-mixed"); };
  m["int8_saturation"] = [](const CaseSpec& c) { CHECK(c.recipe.name == "int8"); };
  m["finite_mask_leak"] = [](const CaseSpec& c) {
    CHECK(!c.problem.has_sinks);
    CHECK(c.problem.empty_rows() > 0);
  };
  return m;
}

ShrinkOptions generous() { return {.threads = 2, .max_runs = 2000, .max_seconds = 60}; }

}  // namespace

TEST_CASE("smaller_values: big steps first, then one by one, from lo up to n - 1", "[shrink]") {
  CHECK(smaller_values(1, 1).empty());
  CHECK(smaller_values(2, 1) == std::vector<std::int64_t>{1});
  CHECK(smaller_values(16, 1) == std::vector<std::int64_t>{1, 2, 4, 8, 9, 13, 15});
  for (std::int64_t n : {3, 7, 100, 4096}) {
    const auto v = smaller_values(n, 0);
    CHECK(std::is_sorted(v.begin(), v.end()));
    CHECK(v.front() == 0);
    CHECK(v.back() == n - 1);
    CHECK(std::find(v.begin(), v.end(), n / 2) != v.end());
    CHECK(v.size() <= 2 * 13 + 2);
  }
}

TEST_CASE("every pass proposes only smaller cases, and the loader keeps the invalid ones out", "[shrink]") {
  std::set<std::string> names;
  const Suite phase4 = load(kSource + "/configs/phase4.json");
  std::vector<CaseSpec> starts(phase4.cases.begin(), phase4.cases.end());
  starts.push_back(start_case("finite_mask_leak"));  // a negative offset
  for (const ShrinkPass& pass : shrink_passes()) {
    CHECK(names.insert(pass.name).second);
    for (const CaseSpec& c : starts) {
      INFO(pass.name << " on " << c.name);
      const Shape& s = c.problem.shape;
      for (const CaseSpec& raw : pass.propose(c)) {
        CaseSpec p;
        if (!revalidate(raw, &p)) continue;
        const Shape& t = p.problem.shape;
        CHECK(p.to_json() != c.to_json());
        CHECK(t.batch <= s.batch);
        CHECK(t.tokens <= s.tokens);
        CHECK(t.kv_tokens <= s.kv_tokens);
        CHECK(t.heads <= s.heads);
        CHECK(t.kv_heads <= s.kv_heads);
        CHECK(t.head_dim <= s.head_dim);
        CHECK(p.problem.window <= c.problem.window);
        CHECK(t.heads % t.kv_heads == 0);
        CHECK(t.q_offset + t.tokens <= t.kv_tokens);
        CHECK(std::min<std::int64_t>(t.q_offset, 0) >= std::min<std::int64_t>(s.q_offset, 0));
      }
    }
  }
  // A proposal the loader refuses never reaches the candidate.
  CaseSpec bad = start_case("no_scale");
  bad.problem.shape.kv_heads = 3;
  CaseSpec out;
  std::string why;
  CHECK(!revalidate(bad, &out, &why));
  CHECK(why.find("kv_heads") != std::string::npos);
}

TEST_CASE("the compact config of a case loads back as the same case", "[shrink]") {
  for (const char* file : {"/configs/phase1.json", "/configs/phase3.json", "/configs/phase4.json",
                           "/tests/data/shrink_start.json"}) {
    for (const CaseSpec& c : load(kSource + file).cases) {
      INFO(c.name);
      const nlohmann::json j = nlohmann::json::parse(compact_case_json(c).dump());
      Suite back;
      Diagnostics diags;
      REQUIRE(parse_suite({{"cases", {j}}}, "compact", {}, &back, &diags));
      CHECK(back.cases.front().to_json() == c.to_json());
      CHECK(j.size() < c.to_json().size());
    }
  }
}

TEST_CASE("each mutant shrinks to the smallest case that shows its bug, failing the same gate", "[shrink]") {
  const auto claims = minimality_claims();
  for (const MutantInfo& m : mutants()) {
    INFO("mutant " << m.name);
    if (m.backward) continue;  // backward mutants: tests/tools/shrink_backward_test.cpp
    REQUIRE(claims.count(m.name) == 1);  // a new mutant needs its claim here and a start case
    const CaseSpec& start = start_case(m.name);
    const Candidate cand = mutant_candidate(m, 2);
    const ShrinkResult r = shrink_case(start, cand, generous());
    REQUIRE(r.status == ShrinkResult::Status::shrunk);
    CHECK(r.stopped == "fixpoint");
    CHECK(!r.steps.empty());
    const CaseSpec& c = r.minimal;
    const Shape& s = c.problem.shape;
    INFO("minimal: " << compact_case_json(c).dump());
    // A few tokens, one batch, at most 4 heads: something a person can step through.
    CHECK(s.tokens <= 3);
    // A bf16 accumulator needs the most keys to leave the envelope of the correct implementations
    // (tiled and eager, docs/calibration.md): 35 at head_dim 1.
    CHECK(s.kv_tokens <= (m.name == "acc_bf16" ? 48 : 32));
    CHECK(s.batch == 1);
    CHECK(s.heads <= 4);
    CHECK(s.head_dim <= 4);
    for (const std::string& need : m.needs) CHECK(covers(c, need));
    claims.at(m.name)(c);
    test::check_same_failure(r, cand, 2);
    // Fixpoint: no single proposal of any pass reproduces any more.
    const Predicate still_fails(cand, r.reason, 2);
    for (const ShrinkPass& pass : shrink_passes())
      for (const CaseSpec& raw : pass.propose(c)) {
        CaseSpec p;
        if (revalidate(raw, &p)) CHECK(still_fails(p) != Repro::same_failure);
      }
  }
}

TEST_CASE("a candidate that crashes or errors on a proposal does not end the shrink", "[shrink]") {
  const MutantInfo& m = *find_mutant("kv_tail_dropped");
  Candidate flaky = mutant_candidate(m, 1);
  const auto inner = flaky.produce;
  int crashes = 0;
  flaky.produce = [&](PreparedCase& p, std::vector<double>* out, std::string* err) {
    const CaseSpec& c = p.spec;
    if (c.problem.shape.heads == 1) {  // a crash on every single-head case
      ++crashes;
      throw std::runtime_error("segfault (simulated)");
    }
    if (c.problem.shape.head_dim < 4) {  // a timeout on small head dims
      *err = "timed out after 1 s (simulated)";
      return false;
    }
    return inner(p, out, err);
  };
  const ShrinkResult r = shrink_case(start_case("kv_tail_dropped"), flaky, generous());
  REQUIRE(r.status == ShrinkResult::Status::shrunk);
  CHECK(r.stopped == "fixpoint");
  CHECK(crashes > 0);
  CHECK(r.outcomes.at(Repro::candidate_error) > 0);
  CHECK(!r.candidate_errors.empty());
  CHECK(r.minimal.problem.shape.heads > 1);
  CHECK(r.minimal.problem.shape.head_dim >= 4);
  CHECK(r.minimal.problem.shape.kv_tokens == 3);  // the rest shrinks as usual
}

TEST_CASE("shrink keeps the original's top diagnose hypothesis, not only its gate", "[shrink]") {
  // tile_skip_off_by_one's start case has its one-key tile at the partial end, where kv_tail_dropped
  // gives the identical output and comes first in the table: diagnose names kv_tail_dropped.
  const MutantInfo& m = *find_mutant("tile_skip_off_by_one");
  const CaseSpec& start = start_case("tile_skip_off_by_one");
  const ShrinkResult kept = shrink_case(start, mutant_candidate(m, 1), {.threads = 1});
  REQUIRE(kept.status == ShrinkResult::Status::shrunk);
  CHECK(kept.reason.hypothesis == "kv_tail_dropped");
  CHECK(kept.hypothesis_from == "original");
  CHECK(kept.outcomes.count(Repro::other_diagnosis) == 1);  // some smaller cases were refused for it
  CHECK(kept.minimal.problem.shape.kv_tokens > kept.minimal.tiles.kv);  // still a partial last tile
  // Gate only: one key in one tile shows the bug, and diagnose would then name tile_skip_off_by_one.
  const ShrinkResult gate_only = shrink_case(start, mutant_candidate(m, 1), {.threads = 1, .same_diagnosis = false});
  CHECK(gate_only.reason.hypothesis.empty());
  CHECK(gate_only.minimal.problem.shape.kv_tokens == 1);
  PreparedCase p = prepare_case(gate_only.minimal, 1);
  std::vector<double> out;
  const CaseResult failed = judge(p, mutant_candidate(m, 1), {.threads = 1, .keep_candidate = &out});
  CHECK(top_hypothesis(p, failed, out, {}, 1) == "tile_skip_off_by_one");
  // An original too big to diagnose in time: the first step's case names the hypothesis.
  const ShrinkResult pinned = shrink_case(start_case("no_sinks"), mutant_candidate(*find_mutant("no_sinks"), 1),
                                          {.threads = 1, .max_diagnose_seconds = 0});
  CHECK(pinned.hypothesis_from == "step 1");
  CHECK(pinned.reason.hypothesis == "no_sinks");
  CHECK(!pinned.diagnosis_note.empty());
}

TEST_CASE("shrink stops at its run and time limits with a case that still fails", "[shrink]") {
  const MutantInfo& m = *find_mutant("q_tail_dropped");
  const CaseSpec& start = start_case("q_tail_dropped");
  const ShrinkResult few = shrink_case(start, mutant_candidate(m, 1), {.threads = 1, .max_runs = 3});
  CHECK(few.stopped == "max-runs");
  CHECK(few.runs == 3);
  CHECK(run_case(few.minimal, mutant_candidate(m, 1), {}).verdict == Verdict::fail);
  const ShrinkResult none = shrink_case(start, mutant_candidate(m, 1), {.threads = 1, .max_seconds = 0});
  CHECK(none.stopped == "max-seconds");
  CHECK(none.runs == 0);
  CHECK(none.minimal.to_json() == start.to_json());
}

TEST_CASE("shrink refuses a case that passes or that the candidate cannot run", "[shrink]") {
  const ShrinkResult passing = shrink_case(start_case("no_scale"), tiled_candidate(1), {});
  CHECK(passing.status == ShrinkResult::Status::not_failing);
  const ShrinkResult unsupported = shrink_case(start_case("no_scale"), mutant_candidate(*find_mutant("int8_saturation"), 1), {});
  CHECK(unsupported.status == ShrinkResult::Status::unsupported);
  Candidate broken = tiled_candidate(1);
  broken.is_expected = false;
  broken.produce = [](PreparedCase&, std::vector<double>*, std::string* err) {
    *err = "exit status 139";
    return false;
  };
  const ShrinkResult crashed = shrink_case(start_case("no_scale"), broken, {});
  CHECK(crashed.status == ShrinkResult::Status::candidate_error);
  CHECK(crashed.message == "exit status 139");
}

TEST_CASE("attn-diff shrink writes a config that run accepts and that still fails", "[shrink][cli]") {
  test::TempDir tmp("shrink_cli");
  const std::string out = tmp.file("min.json"), dump = (tmp.path / "dump").string();
  const auto r = test::run_cli("shrink -c tests/data/shrink_start.json --case kv_tail_dropped --mutant kv_tail_dropped -j 1 -o '" +
                               out + "' --dump '" + dump + "'");
  INFO(r.out);
  CHECK(r.code == 1);  // as `run` on the original: a case failed
  CHECK(r.out.find("original: fails gate max_abs_vs_naive") != std::string::npos);
  CHECK(r.out.find("kv_tail_dropped") != std::string::npos);
  CHECK(r.out.find("stopped at fixpoint") != std::string::npos);
  const Suite shrunk = load(out);
  REQUIRE(shrunk.cases.size() == 1);
  CHECK(shrunk.cases[0].problem.shape.kv_tokens == 3);
  const auto tags = shrunk.cases[0].tags;
  CHECK(std::find(tags.begin(), tags.end(), "mutant:kv_tail_dropped") != tags.end());
  CHECK(test::run_cli("run -c '" + out + "' --mutant kv_tail_dropped -q").code == 1);
  CHECK(test::run_cli("run -c '" + out + "' -q").code == 0);
  for (const char* f : {"case.json", "q.npy", "k.npy", "v.npy", "candidate.npy"})
    CHECK(std::filesystem::exists(std::filesystem::path(dump) / f));

  const auto limited = test::run_cli("shrink -c tests/data/shrink_start.json --case kv_tail_dropped --mutant "
                                     "kv_tail_dropped -j 1 --max-time 0 -o '" + tmp.file("limited.json") + "'");
  CHECK(limited.code == 1);
  CHECK(limited.out.find("stopped at max-seconds") != std::string::npos);
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case no_scale --mutant kv_tail_dropped").code == 0);
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case nope --mutant no_scale").code == 2);
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case no_scale --mutant no_scael").code == 2);
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case '*' --mutant no_scale").code == 2);
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case no_scale").code == 2);
}

TEST_CASE("attn-diff shrink works with an external --candidate-cmd", "[shrink][cli]") {
  // The stand-in kernel with the kv_tail_dropped bug, run as an external command per proposal.
  test::TempDir tmp("shrink_cmd");
  const std::string out = tmp.file("min.json");
  const auto r = test::run_cli("shrink -c tests/data/shrink_start.json --case kv_tail_dropped -j 1 --timeout 30 "
                               "--candidate-cmd '" + std::string(ATTN_DIFF_CANDIDATE) +
                               " mutant:kv_tail_dropped {inputs} {out}' -o '" + out + "'");
  INFO(r.out);
  CHECK(r.code == 1);
  const Suite shrunk = load(out);
  REQUIRE(shrunk.cases.size() == 1);
  CHECK(shrunk.cases[0].problem.shape.kv_tokens == 3);  // two KV tiles of 2, the last partial
  CHECK(test::run_cli("shrink -c tests/data/shrink_start.json --case no_scale --mutant no_scale "
                      "--candidate-cmd true").code == 2);  // exactly one candidate
}

TEST_CASE("attn-diff shrink records an external candidate's crashes as not reproducing and goes on", "[shrink][cli]") {
  // The stand-in kernel with the kv_tail_dropped bug, killed by SIGSEGV on every single-head case.
  test::TempDir tmp("shrink_crash");
  const std::string script = tmp.file("crashy.sh", "if grep -q '\"heads\": 1,' \"$ATTN_DIFF_INPUTS/case.json\"; then kill -SEGV $$; fi\n"
                                                   "exec '" + std::string(ATTN_DIFF_CANDIDATE) +
                                                   "' mutant:kv_tail_dropped \"$ATTN_DIFF_INPUTS\" \"$ATTN_DIFF_OUT\"\n");
  const std::string out = tmp.file("min.json"), report = tmp.file("shrink.json");
  const auto r = test::run_cli("shrink -c tests/data/shrink_start.json --case kv_tail_dropped -j 1 --timeout 30 "
                               "--candidate-cmd 'sh " + script + "' -o '" + out + "' --json '" + report + "'");
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("counted as not reproducing") != std::string::npos);
  CHECK(r.out.find("stopped at fixpoint") != std::string::npos);
  const Suite shrunk = load(out);
  REQUIRE(shrunk.cases.size() == 1);
  CHECK(shrunk.cases[0].problem.shape.heads > 1);        // every single-head case crashed
  CHECK(shrunk.cases[0].problem.shape.kv_tokens == 3);  // the rest shrinks as usual
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(report));
  REQUIRE(!j.at("candidate_errors").empty());
  CHECK(j.at("candidate_errors")[0].at("case").at("heads") == 1);
  CHECK(j.at("outcomes").at("candidate error") == j.at("candidate_errors").size());
}

TEST_CASE("every shrunk failure in tests/regressions still fails with its mutant and gate", "[shrink][regression]") {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/tests/regressions")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    for (const CaseSpec& c : load(entry.path().string()).cases) {
      INFO(entry.path().filename().string() << ": case " << c.name);
      std::string mutant, gate, hypothesis;
      for (const std::string& t : c.tags) {
        if (t.starts_with("mutant:")) mutant = t.substr(7);
        if (t.starts_with("gate:")) gate = t.substr(5);
        if (t.starts_with("hypothesis:")) hypothesis = t.substr(11);
      }
      REQUIRE(find_mutant(mutant));
      const Candidate cand = mutant_candidate(*find_mutant(mutant), 1);
      PreparedCase p = prepare_case(c, 1);
      const CaseResult r = judge(p, cand, {});
      CHECK(r.verdict == Verdict::fail);
      if (!gate.empty()) {
        const auto failing = failure_reason(r).failing;
        CHECK(std::find(failing.begin(), failing.end(), gate) != failing.end());
      }
      if (!hypothesis.empty()) {  // diagnose still names the same cause
        std::vector<double> out;
        BackwardTensors tensors;  // a backward case's failure is its tensors'
        const CaseResult failed = judge(p, cand, {.threads = 1, .keep_candidate = &out, .keep_tensors = &tensors});
        CHECK(top_hypothesis(p, failed, out, tensors, 1) == hypothesis);
      }
      CHECK(run_case(c, tiled_candidate(1), {}).verdict == Verdict::pass);
    }
  }
  CHECK(files >= 2);
}
