// Diagnosis that uses the lse a candidate hands back (src/judge/backward_diagnosis.hpp): an lse
// that alone fails is explained by the lse conventions ports get wrong (base 2, the sink left out),
// computed here independently from the inputs; a failing output is rescored by its lse, so a scale or
// sink bug whose lse does not move is no longer "most likely", and a V-side bug still is.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

#include "kernels/backward.hpp"
#include "src/judge/backward_diagnosis.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/suite/config.hpp"

using namespace attn;
using nlohmann::json;

namespace {

CaseSpec make_case(json over) {
  // GQA 4 on 2, causal with a window, sinks, a decode offset, several partial 16-key tiles.
  json c = {{"name", "lse"},    {"tokens", 21},   {"kv_tokens", 45},       {"heads", 4},
            {"kv_heads", 2},    {"head_dim", 16}, {"window", 9},           {"precision", "fp32"},
            {"sinks", {{"dist", "normal"}, {"std", 1.0}}},                 {"tiles", {{"q", 16}, {"kv", 16}}}};
  if (over.is_object()) c.update(over);
  Suite s;
  Diagnostics d;
  REQUIRE(parse_suite(json{{"cases", {c}}}, "t.json", {}, &s, &d));
  return s.cases[0];
}

// log of the sum of exp(scale q·k) over the visible keys only, [B][H][Sq], straight from the inputs
// and SPEC §2's visibility (causal, window W: keys p - W < j <= p at position p = q_offset + i).
std::vector<double> visible_keys_lse(const PreparedCase& p) {
  const Shape& s = p.spec.problem.shape;
  const std::int64_t W = p.spec.problem.window;
  std::vector<double> out;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i = 0; i < s.tokens; ++i) {
        const std::int64_t pos = s.q_offset + i, g = h / s.q_mult();
        std::vector<double> scores;
        for (std::int64_t j = 0; j < s.kv_tokens; ++j) {
          if (j > pos || (W > 0 && j <= pos - W)) continue;
          double dot = 0;
          for (std::int64_t d = 0; d < s.head_dim; ++d)
            dot += double(p.inputs.q[std::size_t(((b * s.tokens + i) * s.heads + h) * s.head_dim + d)]) *
                   double(p.inputs.k[std::size_t(((b * s.kv_tokens + j) * s.kv_heads + g) * s.head_dim + d)]);
          scores.push_back(p.spec.problem.scale * dot);
        }
        double m = -INFINITY, z = 0;
        for (double x : scores) m = std::max(m, x);
        for (double x : scores) z += std::exp(x - m);
        out.push_back(scores.empty() ? -INFINITY : m + std::log(z));
      }
  return out;
}

std::string verdict(const CaseResult& r) {
  return diagnosis_verdict(r.diagnosis, r.verdict == Verdict::fail).name();
}

const Hypothesis& find(const CaseResult& r, const std::string& name) {
  for (const Hypothesis& h : r.diagnosis)
    if (h.name == name) return h;
  FAIL("no hypothesis " << name);
  return r.diagnosis.front();
}

std::vector<double> mutant_output(PreparedCase& p, const char* name) {
  std::vector<double> out;
  std::string err;
  REQUIRE(mutant_candidate(*find_mutant(name), 1).produce(p, &out, &err));
  return out;
}

// The lse the mutant's kernel computes: the tiled kernel with its fault.
std::vector<double> mutant_lse(const PreparedCase& p, const char* name) {
  std::vector<float> lse(std::size_t(p.spec.problem.shape.batch * p.spec.problem.shape.heads * p.spec.problem.shape.tokens));
  tiled_lse(p.spec.problem, p.inputs,
            {.recipe = p.spec.recipe, .tiles = p.spec.tiles, .threads = 1, .fault = find_mutant(name)->fault}, lse);
  return {lse.begin(), lse.end()};
}

}  // namespace

TEST_CASE("an lse that alone fails is explained by its convention: base 2, or the sink left out", "[diagnosis][lse]") {
  for (const char* precision : {"fp32", "bf16-mixed"}) {
    for (const json& over : {json{{"q_offset", 24}}, json{{"backward", true}, {"q_offset", 24}}}) {
      INFO(precision << " " << over.dump());
      json o = over;
      o["precision"] = precision;
      PreparedCase p = prepare_case(make_case(o), 1);
      p.reference_tensors(1);
      const std::vector<double>& golden = p.golden_tensors->lse;
      const std::vector<double> visible = visible_keys_lse(p);
      const Shape& s = p.spec.problem.shape;
      // golden's lse is the visible keys' with the sink added: pins the convention independently.
      for (std::size_t n = 0; n < golden.size(); ++n) {
        const double sink = p.inputs.sinks[(n / std::size_t(s.tokens)) % std::size_t(s.heads)];
        const double m = std::max(visible[n], sink);
        REQUIRE(golden[n] == Approx(m + std::log(std::exp(visible[n] - m) + std::exp(sink - m))).epsilon(1e-12));
      }
      BackwardTensors t = p.tiled_tensors(1);
      const std::vector<double> out = p.tiled_output(1);

      BackwardTensors log2 = t;
      for (double& x : log2.lse) x *= std::numbers::log2e;
      CaseResult r = judge_output(p, out, log2, Layout::bshd, 1);
      REQUIRE(r.verdict == Verdict::fail);
      CHECK_FALSE(r.output_failed);
      INFO(r.diagnosis[0].name << ": " << r.diagnosis[0].evidence);
      CHECK(verdict(r) == "lse:log2");

      BackwardTensors no_sink = t;
      no_sink.lse = visible;
      r = judge_output(p, out, no_sink, Layout::bshd, 1);
      REQUIRE(r.verdict == Verdict::fail);
      INFO(r.diagnosis[0].name << ": " << r.diagnosis[0].evidence);
      CHECK(verdict(r) == "lse:no_sink");
      CHECK(find(r, "lse:log2").score < kExplainsScore);

      // An lse off by a constant no convention makes: unexplained, and never "precision".
      BackwardTensors shifted = t;
      for (double& x : shifted.lse) x += 0.25;
      r = judge_output(p, out, shifted, Layout::bshd, 1);
      REQUIRE(r.verdict == Verdict::fail);
      CHECK(verdict(r) == "unexplained");
    }
  }
}

TEST_CASE("lse diagnosis handles rows with no visible key (-inf) and cases without sinks", "[diagnosis][lse]") {
  // No sinks and Sk < Sq: q_offset is Sk - Sq < 0, and the first rows see no key (lse -inf).
  PreparedCase p = prepare_case(make_case({{"sinks", nullptr}, {"tokens", 30}, {"kv_tokens", 20}}), 1);
  REQUIRE(p.empty_rows > 0);
  BackwardTensors t = p.tiled_tensors(1);
  CHECK(std::isinf(t.lse.front()));
  CaseResult r = judge_output(p, p.tiled_output(1), t, Layout::bshd, 1);
  CHECK(r.verdict == Verdict::pass);
  for (double& x : t.lse) x *= std::numbers::log2e;
  r = judge_output(p, p.tiled_output(1), t, Layout::bshd, 1);
  REQUIRE(r.verdict == Verdict::fail);
  CHECK(verdict(r) == "lse:log2");
  CHECK(find(r, "lse:no_sink").score == 0.0);
  CHECK(find(r, "lse:no_sink").evidence.find("no sinks") != std::string::npos);
}

TEST_CASE("a failing output is rescored by its lse: sink and scale bugs move it, a V-side bug does not",
          "[diagnosis][lse]") {
  for (const char* name : {"no_sinks", "no_scale", "sink_not_in_max"}) {
    INFO(name);
    PreparedCase p = prepare_case(make_case({}), 1);
    const std::vector<double> out = mutant_output(p, name);
    // The mutant's own lse beside its output: the mutant, as without an lse.
    CaseResult r = judge_output(p, out, BackwardTensors{.lse = mutant_lse(p, name)}, Layout::bshd, 1);
    REQUIRE(r.output_failed);
    CHECK(verdict(r) == name);
    CHECK(find(r, name).evidence.find("its lse is 0x") != std::string::npos);
    // Without the lse the output alone names the mutant; with golden's lse beside it, it cannot be
    // that bug (its lse would have moved), and nothing else explains both.
    CHECK(verdict(judge_output(p, out, {}, Layout::bshd, 1)) == name);
    p.reference_tensors(1);
    r = judge_output(p, out, BackwardTensors{.lse = p.golden_tensors->lse}, Layout::bshd, 1);
    CHECK(verdict(r) != name);
    CHECK(find(r, name).score < kExplainsScore);
    CHECK(find(r, "precision").evidence.find("normaliser is right") != std::string::npos);
  }
  // acc_bf16 rounds the P·V accumulator: the lse is the correct kernel's, and the verdict stays.
  // The case is tests/regressions/acc_bf16.json's, which shrink found.
  PreparedCase p = prepare_case(make_case({{"precision", "bf16-mixed"}, {"tokens", 1}, {"kv_tokens", 9}, {"heads", 1},
                                           {"kv_heads", 1}, {"head_dim", 2}, {"window", 0}, {"tiles", {{"q", 1}, {"kv", 9}}}}),
                                1);
  const std::vector<double> out = mutant_output(p, "acc_bf16");
  REQUIRE(mutant_lse(p, "acc_bf16") == p.tiled_tensors(1).lse);
  const CaseResult r = judge_output(p, out, BackwardTensors{.lse = p.tiled_tensors(1).lse}, Layout::bshd, 1);
  REQUIRE(r.output_failed);
  INFO(r.diagnosis[0].name << ": " << r.diagnosis[0].evidence);
  CHECK(verdict(r) == "acc_bf16");
}
