// Diagnosis of a backward case whose tensors alone fail (src/judge/backward_diagnosis.hpp): every
// backward mutant is named first on a case where its bug shows, in fp32 and bf16-mixed; a gradient
// bug no mutant models is left unexplained, never "precision".
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "src/judge/backward_diagnosis.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/suite/config.hpp"

using namespace attn;
using nlohmann::json;

namespace {

CaseSpec case_in(const std::string& precision) {
  // GQA 4 on 2, causal with a window, sinks, a decode offset, partial 16-row and 16-key tiles.
  const json c = {{"name", "bwd"},        {"tokens", 37},         {"kv_tokens", 45},
                  {"heads", 4},           {"kv_heads", 2},        {"head_dim", 16},
                  {"window", 9},          {"precision", precision}, {"sinks", {{"dist", "normal"}, {"std", 1.0}}},
                  {"tiles", {{"q", 16}, {"kv", 16}}}, {"backward", true}};
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(json{{"cases", {c}}}, "t.json", {}, &s, &d));
  return s.cases[0];
}

}  // namespace

TEST_CASE("backward diagnosis names each backward mutant first", "[backward][diagnosis]") {
  for (const char* precision : {"fp32", "bf16-mixed"}) {
    const CaseSpec c = case_in(precision);
    for (const MutantInfo& m : mutants()) {
      if (!m.backward) continue;
      INFO(precision << " " << m.name);
      const CaseResult r = run_case_diagnosed(c, mutant_candidate(m, 1), {.threads = 1}, true, Layout::bshd);
      REQUIRE(r.verdict == Verdict::fail);
      CHECK_FALSE(r.output_failed);
      REQUIRE(!r.diagnosis.empty());
      INFO(r.diagnosis[0].name << ": " << r.diagnosis[0].evidence);
      CHECK(diagnosis_verdict(r.diagnosis, true).explained_by == m.name);
      CHECK(r.diagnosis[0].score > kExplainsScore);
      CHECK(r.diagnosis[0].score == 1.0);  // the mutant's own tensors: distance 0
    }
  }
}

TEST_CASE("backward diagnosis leaves a bug no mutant models unexplained", "[backward][diagnosis]") {
  PreparedCase p = prepare_case(case_in("bf16-mixed"), 1);
  const std::vector<double> out = p.tiled_output(1);
  BackwardTensors t = p.tiled_tensors(1);
  for (std::size_t i = 0; i < t.dv.size(); i += 7) t.dv[i] = -t.dv[i];  // a sign slip in some of dV
  const CaseResult r = judge_output(p, out, t, Layout::bshd, 1);
  REQUIRE(r.verdict == Verdict::fail);
  REQUIRE(!r.diagnosis.empty());
  const DiagnosisVerdict v = diagnosis_verdict(r.diagnosis, true);
  CHECK_FALSE(v.explained());
  CHECK(r.diagnosis.back().score == 0.0);  // the forward-only mutants that change nothing here say so
  for (const Hypothesis& h : r.diagnosis)
    if (h.name == "bwd_window_off_by_one") CHECK(h.score > 0.0);  // the window cuts rows: it applies
}
