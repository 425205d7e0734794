// diagnose names the cause: the injected mutant on every phase1-3 case that kills it (also when the
// buggy kernel rounds differently from ours), a layout mix-up, or precision for a correct kernel.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "kernels/mutants.hpp"
#include "kernels/tiled.hpp"
#include "src/io/layout.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/suite/config.hpp"

using namespace attn;
using Catch::Matchers::Contains;

namespace {

std::vector<CaseSpec> phase_cases() {
  std::vector<CaseSpec> all;
  for (const char* f : {"configs/phase1.json", "configs/phase2.json", "configs/phase3.json"}) {
    Suite s;
    Diagnostics d;
    REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/" + f, {}, &s, &d));
    all.insert(all.end(), s.cases.begin(), s.cases.end());
  }
  return all;
}

std::vector<double> run_tiled(const CaseSpec& c, const Inputs& in, Fault f, const Recipe& r) {
  std::vector<float> out(c.problem.shape.q_elements());
  tiled_attention(c.problem, in, {.recipe = r, .tiles = c.tiles, .threads = 2, .fault = f}, out);
  return {out.begin(), out.end()};
}

const Hypothesis& find(const std::vector<Hypothesis>& h, const std::string& name) {
  for (const Hypothesis& x : h)
    if (x.name == name) return x;
  FAIL("no hypothesis " << name);
  return h.front();
}

// The injected bug is first, or shares the first score with a bug whose output is the same on
// this case (the evidence must say so): then the data cannot tell them apart.
bool ranked_first(const std::vector<Hypothesis>& h, const std::string& injected, std::string* tie) {
  if (h.front().name == injected) return true;
  const Hypothesis& mine = find(h, injected);
  if (mine.score == h.front().score && mine.evidence.find(h.front().name + " gives the identical output") != std::string::npos) {
    *tie = h.front().name;
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE("diagnose: the injected mutant ranks first on every phase1-3 case that kills it", "[diagnosis]") {
  int checked = 0, rounded_checked = 0;
  std::vector<std::string> ties;
  for (const CaseSpec& c : phase_cases()) {
    PreparedCase p = prepare_case(c, 2);
    const DiagnosisContext ctx = build_diagnosis_context(p, Layout::bshd, 2);
    for (const MutantInfo& m : mutants()) {
      if (!mutant_unsupported(m, c.recipe).empty()) continue;
      const CaseResult r = judge(p, mutant_candidate(m, 2), {.threads = 2, .worst = 0});
      if (r.verdict != Verdict::fail) continue;  // not killed here: nothing to diagnose
      ++checked;
      const std::vector<double> out = run_tiled(c, p.inputs, m.fault, c.recipe);
      const std::vector<Hypothesis> h = diagnose(ctx, p, out);
      std::string tie;
      INFO(c.name << ": injected " << m.name << "; top " << h[0].name << " " << h[0].score << ": " << h[0].evidence
                  << "\n  second " << h[1].name << " " << h[1].score << ": " << h[1].evidence);
      CHECK(ranked_first(h, m.name, &tie));
      CHECK(find(h, m.name).score == 1.0);  // bit-identical to the mutant's own output
      if (!tie.empty()) ties.push_back(fmt::format("{}: {} = {}", c.name, m.name, tie));

      // The same bug in a kernel that rounds differently (fp32 throughout) must still be found.
      if (c.recipe.name == "fp32" || c.recipe.scaled_input()) continue;
      const std::vector<double> fp32 = run_tiled(c, p.inputs, m.fault, *recipe_by_name("fp32"));
      const std::vector<Hypothesis> g = diagnose(ctx, p, fp32);
      std::string tie2;
      INFO("fp32 rounding: top " << g[0].name << " " << g[0].score << ": " << g[0].evidence << "\n  second " << g[1].name
                                  << " " << g[1].score << ": " << g[1].evidence);
      CHECK((g[0].name == m.name || find(g, m.name).evidence.find("cannot be told apart") != std::string::npos));
      ++rounded_checked;
    }
  }
  CHECK(checked > 200);
  WARN(checked << " (case, mutant) pairs where the mutant is killed, " << rounded_checked
               << " again with fp32 rounding; exact ties: " << ties.size());
  for (const std::string& t : ties) WARN("tie " << t);
}

TEST_CASE("diagnose: layout mix-ups and the precision explanation", "[diagnosis]") {
  Suite s;
  Diagnostics d;
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {}, &s, &d));
  const CaseSpec& c = s.cases[1];  // causal: B=1, Sq=Sk=8, H=Hkv=4, D=64, no sinks
  REQUIRE(c.name == "causal");
  PreparedCase p = prepare_case(c, 1);
  const Index4 dims = p.dims();
  const DiagnosisContext ctx = build_diagnosis_context(p, Layout::bshd, 1);

  // Golden's values in another axis order, reshaped (not transposed) to the bshd shape.
  for (const char* order : {"bhsd", "bsdh"}) {
    const std::vector<double> c2 = permute_from_bshd(p.golden, dims, {order[0], order[1], order[2], order[3]});
    const std::vector<Hypothesis> h = diagnose(ctx, p, c2);
    CHECK(h[0].name == std::string("layout:") + order);
    CHECK(h[0].score > 0.99);
  }
  // B = 1: tokens-first is the same order as bshd, so it cannot be a cause here.
  CHECK_THAT(diagnose(ctx, p, p.golden).back().evidence, Contains("not applicable"));

  // A bhsd kernel handed bshd tensors: attention over heads, computed here independently.
  const Shape& sh = c.problem.shape;
  std::vector<double> swapped(sh.q_elements());
  for (std::int64_t h = 0; h < sh.heads; ++h)      // the kernel's query "token"
    for (std::int64_t t = 0; t < sh.tokens; ++t) {  // the kernel's "head"
      std::vector<double> w;
      double m = -INFINITY;
      for (std::int64_t j = 0; j <= h; ++j) {  // causal over heads, q_offset 0
        double dot = 0;
        for (std::int64_t e = 0; e < sh.head_dim; ++e)
          dot += double(p.inputs.q[(t * sh.heads + h) * sh.head_dim + e]) * p.inputs.k[(t * sh.heads + j) * sh.head_dim + e];
        w.push_back(dot * c.problem.scale);
        m = std::max(m, w.back());
      }
      double z = 0;
      for (double& x : w) z += (x = std::exp(x - m));
      for (std::int64_t e = 0; e < sh.head_dim; ++e) {
        double o = 0;
        for (std::int64_t j = 0; j <= h; ++j) o += w[j] / z * p.inputs.v[(t * sh.heads + j) * sh.head_dim + e];
        swapped[(t * sh.heads + h) * sh.head_dim + e] = o;
      }
    }
  std::vector<Hypothesis> h = diagnose(ctx, p, swapped);
  CHECK(h[0].name == "layout:swap_tokens_heads");
  CHECK(h[0].score > 0.99);

  // The correct kernel and a kernel that rounds otherwise are explained by precision.
  std::vector<double> tiled;
  std::string err;
  tiled_candidate(1).produce(p, &tiled, &err);
  h = diagnose(ctx, p, tiled);
  CHECK(h[0].name == "precision");
  CHECK(h[0].score > 0.5);
  CHECK_THAT(h[0].evidence, Contains("within what rounding explains"));
  h = diagnose(ctx, p, run_tiled(c, p.inputs, Fault::none, *recipe_by_name("fp32")));
  CHECK(h[0].name == "precision");

  // NaN: nothing built in produces it, and precision says why it cannot.
  tiled[7] = std::nan("");
  h = diagnose(ctx, p, tiled);
  CHECK(find(h, "precision").score == 0);
  CHECK_THAT(find(h, "precision").evidence, Contains("1 NaN/Inf values"));
}

TEST_CASE("diagnose: a case where two bugs give identical output says so", "[diagnosis]") {
  Suite s;
  Diagnostics d;
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase3.json", {}, &s, &d));
  const CaseSpec* c = nullptr;
  for (const CaseSpec& x : s.cases)
    if (x.name == "window_1") c = &x;
  REQUIRE(c);
  // window 1 and 33 tokens in 8-token tiles: dropping the last query tile, dropping the partial last
  // KV tile and skipping a tile with one visible key all zero row 32 and nothing else.
  PreparedCase p = prepare_case(*c, 1);
  const DiagnosisContext ctx = build_diagnosis_context(p, Layout::bshd, 1);
  const std::vector<Hypothesis> h = diagnose(ctx, p, run_tiled(*c, p.inputs, Fault::q_tail_dropped, c->recipe));
  CHECK(h[0].name == "kv_tail_dropped");  // first in the table
  CHECK(h[0].score == 1.0);
  CHECK(find(h, "q_tail_dropped").score == 1.0);
  CHECK_THAT(h[0].evidence, Contains("gives the identical output on this case"));
  CHECK_THAT(find(h, "q_tail_dropped").evidence,
             Contains("kv_tail_dropped gives the identical output on this case, so the two cannot be told apart here "
                      "(kv_tail_dropped is listed first by table order)"));
}
