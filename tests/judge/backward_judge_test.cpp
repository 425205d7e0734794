// A backward case (SPEC §10) is judged on every tensor: the tiled kernel passes with each of lse,
// dq, dk, dv and dsinks judged against golden and naive, a bug fails on the tensors it breaks, a
// candidate without gradients is unsupported, and a forward case's result and report are unchanged.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

#include "kernels/backward.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/judge/runner.hpp"
#include "src/report/report.hpp"
#include "src/suite/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

using namespace attn;
using nlohmann::json;

namespace {

CaseSpec backward_case(json extra = json::object()) {
  // GQA 4 on 2, a window, sinks, a decode offset (Sk > Sq), partial 16-row and 16-key tiles.
  json c = {{"name", "bwd"}, {"tokens", 37}, {"kv_tokens", 45}, {"heads", 4}, {"kv_heads", 2}, {"head_dim", 16},
            {"window", 9}, {"sinks", {{"dist", "normal"}, {"std", 1.0}}}, {"precision", "fp32"},
            {"tiles", {{"q", 16}, {"kv", 16}}}, {"backward", true}};
  c.merge_patch(extra);
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(json{{"cases", {c}}}, "t.json", {}, &s, &d));
  return s.cases[0];
}

const TensorResult* find(const CaseResult& r, const std::string& name) {
  for (const TensorResult& t : r.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("backward: the tiled kernel passes, every tensor judged against golden and naive", "[backward][judge]") {
  for (const char* precision : {"fp32", "bf16-mixed"}) {
    INFO(precision);
    const CaseSpec c = backward_case({{"precision", precision}});
    const CaseResult r = run_case(c, tiled_candidate(2), {.threads = 2});
    INFO(fmt::format("{}", fmt::join(r.failures, "\n")) << r.error);
    CHECK(r.verdict == Verdict::pass);
    REQUIRE(r.tensors.size() == 5);
    for (const char* name : {"lse", "dq", "dk", "dv", "dsinks"}) {
      const TensorResult* t = find(r, name);
      REQUIRE(t);
      CHECK(t->vs_golden.elements > 0);
      CHECK(t->vs_golden.max_abs.has_value());
      CHECK(!t->gates.empty());
      for (const GateResult& g : t->gates) CHECK(g.pass);
    }
    CHECK(find(r, "dq")->vs_golden.elements == 37 * 4 * 16);
    CHECK(find(r, "dk")->vs_golden.elements == 45 * 2 * 16);
    CHECK(find(r, "lse")->vs_golden.elements == 37 * 4);
    CHECK(find(r, "dsinks")->vs_golden.elements == 4);
    const json j = case_to_json(r);
    REQUIRE(j.contains("tensors"));
    CHECK(j["tensors"]["dv"]["metrics"]["vs_golden"]["max_abs"].is_number());
    CHECK(j["tensors"]["dsinks"]["gates"].size() == 2);  // max_abs_vs_naive, per_element_vs_naive
  }
}

TEST_CASE("backward: without sinks there is no dsinks, and a forward case has no tensors", "[backward][judge]") {
  const CaseResult r = run_case(backward_case({{"sinks", nullptr}}), tiled_candidate(1), {.threads = 1});
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.tensors.size() == 4);
  CHECK(find(r, "dsinks") == nullptr);
  const CaseResult f = run_case(backward_case({{"backward", false}}), tiled_candidate(1), {.threads = 1});
  CHECK(f.tensors.empty());
  CHECK_FALSE(case_to_json(f).contains("tensors"));
}

TEST_CASE("backward: a bug fails on the tensors it breaks", "[backward][judge]") {
  // no_sinks: the forward ignores the sink, so its LSE lacks it and dsinks is never the golden one.
  const CaseSpec c = backward_case();
  PreparedCase p = prepare_case(c, 2);
  const CaseResult r = judge(p, mutant_candidate(*find_mutant("no_sinks"), 2), {.threads = 2});
  CHECK(r.verdict == Verdict::fail);
  const auto failed = [&](const std::string& tensor) {
    return std::any_of(r.failures.begin(), r.failures.end(), [&](const std::string& f) { return f.starts_with(tensor + ": "); });
  };
  CHECK(failed("lse"));
  CHECK(failed("dsinks"));
  // Mutants are judged against the correct kernel's tensors too.
  for (const TensorResult& t : r.tensors) {
    CHECK(t.expected_vs_golden.has_value());
    CHECK(std::any_of(t.gates.begin(), t.gates.end(), [](const GateResult& g) { return g.name == "max_abs_vs_expected"; }));
  }
}

TEST_CASE("backward: a candidate that hands back no gradients is unsupported, not failed", "[backward][judge]") {
  const CaseSpec c = backward_case();
  const std::vector<double> values(c.problem.shape.q_elements(), 0.0);
  Candidate external = output_candidate(values, {});
  external.produce_tensors = nullptr;
  CHECK_THAT(unsupported_reason(c, external), Catch::Matchers::Contains("no gradients"));
  CHECK(run_case(c, external, {}).verdict == Verdict::unsupported);
  CHECK(unsupported_reason(backward_case({{"backward", false}}), external).empty());
}

TEST_CASE("backward: a failure of the gradients alone names them and is diagnosed on them", "[backward][judge]") {
  // The correct forward, and a backward whose dQ is 10 % too large (a scale bug in dQ only).
  Candidate c = tiled_candidate(1);
  c.kernel = "dq_scaled";
  c.is_expected = false;
  c.produce_tensors = [](PreparedCase& p, std::span<const double> out, BackwardTensors* t, std::string*) {
    *t = tiled_tensors(p.spec, p.inputs, out, 1);
    for (double& x : t->dq) x *= 1.1;
    return true;
  };
  const CaseResult r = run_case_diagnosed(backward_case(), c, {.threads = 1}, true, Layout::bshd);
  CHECK(r.verdict == Verdict::fail);
  CHECK_FALSE(r.output_failed);
  REQUIRE(!r.failures.empty());
  for (const std::string& f : r.failures) CHECK(f.starts_with("dq: "));
  // Diagnosed on the tensors (src/judge/backward_diagnosis.hpp): no mutant scales dQ by 1.1, and a
  // failure is never "most likely precision".
  REQUIRE(!r.diagnosis.empty());
  CHECK_FALSE(diagnosis_verdict(r.diagnosis, true).explained());
}

TEST_CASE("backward: tensors handed back with the output are judged, and missing or misplaced ones are errors", "[backward][judge]") {
  PreparedCase p = prepare_case(backward_case(), 1);
  const std::vector<double> out = p.tiled_output(1);
  BackwardTensors t = p.tiled_tensors(1);
  CaseResult r = judge_output(p, out, t, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.tensors.size() == 5);
  t.lse.clear();  // optional: judged without it
  r = judge_output(p, out, t, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.tensors.size() == 4);
  t.dv.clear();
  r = judge_output(p, out, t, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::error);
  CHECK_THAT(r.error, Catch::Matchers::Contains("'dv' was not handed back"));

  // A forward case takes an lse, judged against golden's, and refuses gradients.
  PreparedCase f = prepare_case(backward_case({{"backward", false}}), 1);
  BackwardTensors lse_only{.lse = p.tiled_tensors(1).lse};
  r = judge_output(f, f.tiled_output(1), lse_only, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::pass);
  REQUIRE(r.tensors.size() == 1);
  CHECK(r.tensors[0].name == "lse");
  CHECK(r.tensors[0].expected_vs_golden.has_value());
  for (double& x : lse_only.lse) x += 1e-3;  // the LSE of a scale bug: off everywhere, the output maybe not
  r = judge_output(f, f.tiled_output(1), lse_only, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::fail);
  CHECK(r.failures.front().starts_with("lse: "));
  r = judge_output(f, f.tiled_output(1), BackwardTensors{.dq = t.dq}, Layout::bshd, 1, false);
  CHECK(r.verdict == Verdict::error);
  CHECK_THAT(r.error, Catch::Matchers::Contains("forward only"));
}
