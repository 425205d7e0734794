#include "src/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "src/inputs.hpp"

namespace attn {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "fail";
    case Verdict::error: return "error";
    case Verdict::unsupported: return "unsupported";
  }
  return "?";
}

namespace {

std::vector<double> widen(const std::vector<float>& x) { return {x.begin(), x.end()}; }

std::vector<float> run_tiled(const CaseSpec& c, const Inputs& in, int threads) {
  std::vector<float> out(c.problem.shape.q_elements());
  tiled_attention(c.problem, in, {.recipe = c.recipe, .tiles = c.tiles, .threads = threads}, out);
  return out;
}

}  // namespace

Candidate tiled_candidate(int threads) {
  return {.kernel = "tiled", .is_expected = true,
          .produce = [threads](const CaseSpec& c, const Inputs& in, std::vector<double>* out, std::string*) {
            *out = widen(run_tiled(c, in, threads));
            return true;
          }};
}

CaseResult run_case(const CaseSpec& c, const Candidate& cand, const RunOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult r{.spec = c, .kernel = cand.kernel};
  const Shape& s = c.problem.shape;
  const Index4 dims = {s.batch, s.tokens, s.heads, s.head_dim};
  const Inputs in = make_inputs(c, opt.threads);

  std::vector<double> golden(s.q_elements());
  golden_attention(c.problem, in, golden);
  std::vector<float> naive_f(s.q_elements());
  naive_attention(c.problem, in, c.recipe, naive_f, opt.threads);
  const std::vector<double> naive = widen(naive_f);

  std::vector<double> candidate;
  std::string err;
  auto finish = [&] {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  };
  if (!cand.produce(c, in, &candidate, &err)) {
    r.verdict = Verdict::error;
    r.error = err;
    return finish();
  }
  if (candidate.size() != golden.size()) {
    r.verdict = Verdict::error;
    r.error = fmt::format("the candidate has {} elements, expected {}", candidate.size(), golden.size());
    return finish();
  }

  r.empty_rows = c.problem.empty_rows();
  for (double g : golden) r.golden_max_abs_value = std::max(r.golden_max_abs_value, std::abs(g));
  r.vs_golden = compute_metrics(candidate, golden, dims, c.tolerance);
  r.vs_naive = compute_metrics(candidate, naive, dims, c.tolerance);
  r.naive_vs_golden = compute_metrics(naive, golden, dims, c.tolerance);
  if (!cand.is_expected)
    r.expected_vs_golden = compute_metrics(widen(run_tiled(c, in, opt.threads)), golden, dims, c.tolerance);
  r.worst = worst_elements(candidate, golden, dims, opt.worst);

  r.gates = evaluate_gates(c.gates, {.vs_golden = r.vs_golden,
                                     .naive_vs_golden = r.naive_vs_golden,
                                     .expected_vs_golden = r.expected_vs_golden ? &*r.expected_vs_golden : nullptr,
                                     .golden_max_abs_value = r.golden_max_abs_value,
                                     .output = c.recipe.output});
  // NaN or Inf in the candidate where golden is finite fails the case whatever the gates say.
  std::int64_t bad = 0;
  for (std::size_t e = 0; e < candidate.size(); ++e) bad += !std::isfinite(candidate[e]) && std::isfinite(golden[e]);
  if (bad) r.failures.push_back(fmt::format("{} non-finite candidate values where golden is finite", bad));
  for (const GateResult& g : r.gates)
    if (!g.pass)
      r.failures.push_back(g.value ? fmt::format("gate {}: {:.4g} {} {:.4g}", g.name, *g.value,
                                                 find_gate_kind(g.name)->lower ? "<" : ">", g.bound)
                                   : fmt::format("gate {}: {}", g.name, g.note));
  r.verdict = r.failures.empty() ? Verdict::pass : Verdict::fail;
  return finish();
}

}  // namespace attn
