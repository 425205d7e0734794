#include "src/judge/tensors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/backward.hpp"
#include "src/base/diagnostic.hpp"

namespace attn {

namespace {

std::vector<double> widen(std::span<const float> x) { return {x.begin(), x.end()}; }

BackwardTensors from(std::span<const float> lse, const Gradients<float>& g) {
  return {widen(lse), widen(g.dq), widen(g.dk), widen(g.dv), widen(g.dsinks)};
}

double max_abs_of(const std::vector<double>& x) {
  double m = 0;
  for (double v : x)
    if (std::isfinite(v)) m = std::max(m, std::abs(v));
  return m;
}

// The format tensor i is stored in: the recipe's output format for the gradients of Q, K and V,
// fp32 for the LSE and dsinks (SPEC §10: bf16-mixed keeps dsinks in fp32).
double unit_of(const Recipe& r, std::size_t i) {
  const bool gradient = i >= 1 && i <= 3;
  if (!gradient || scaled_dtype(r.output)) return unit_roundoff(DType::f32);
  return unit_roundoff(r.output);
}

GateResult max_abs_gate(const char* name, double k, const Metrics& vs_golden, double yardstick, double eps,
                        const char* what) {
  GateResult g{.name = name, .bound = k * yardstick + eps, .value = vs_golden.max_abs};
  g.pass = g.value && *g.value <= g.bound;
  g.note = fmt::format("{} x {} {:.3g} + eps {:.3g}", k, what, yardstick, eps);
  if (!g.value) g.pass = false, g.note += "; the candidate's max_abs is undefined (no finite element)";
  return g;
}

// PR #2706's per-element dSink rule.
GateResult per_element_gate(double k, const std::vector<double>& c, const std::vector<double>& golden,
                            const std::vector<double>& naive) {
  double naive_max = 0;
  for (std::size_t h = 0; h < golden.size(); ++h) naive_max = std::max(naive_max, std::abs(naive[h] - golden[h]));
  double worst = 0;
  for (std::size_t h = 0; h < golden.size(); ++h) {
    const double r = golden[h];
    const double ulp = std::abs(r) > 0 ? std::ldexp(1.0, std::ilogb(r) - 23) : 0x1p-149;  // fp32's ulp of r
    const double bound = k * naive_max + 2 * ulp;
    const double diff = std::abs(c[h] - r);
    worst = std::max(worst, std::isfinite(diff) ? diff / bound : INFINITY);
  }
  GateResult g{.name = "per_element_vs_naive", .bound = 1.0, .value = worst};
  g.pass = worst <= 1.0;
  g.note = fmt::format("every head's |dsink - golden| <= {} x naive's largest {:.3g} + 2 ulp; value: the worst use of that",
                       k, naive_max);
  return g;
}

}  // namespace

double tensor_eps(const Recipe& r, std::size_t i, const std::vector<double>& golden) {
  return unit_of(r, i) * max_abs_of(golden);
}

Index4 tensor_dims(const Shape& s, std::size_t i) {
  switch (i) {
    case 0: return {s.batch, s.heads, s.tokens, 1};
    case 1: return {s.batch, s.tokens, s.heads, s.head_dim};
    case 2:
    case 3: return {s.batch, s.kv_tokens, s.kv_heads, s.head_dim};
    default: return {1, 1, s.heads, 1};
  }
}

std::vector<std::int64_t> tensor_shape(const Shape& s, std::size_t i) {
  const Index4 d = tensor_dims(s, i);
  if (i == 0) return {d[0], d[1], d[2]};
  if (i == 4) return {d[2]};
  return {d.begin(), d.end()};
}

BackwardTensors golden_tensors(const CaseSpec& c, const Inputs& in, std::span<double> out, int threads) {
  BackwardTensors t;
  t.lse.resize(lse_elements(c.problem.shape));
  Gradients<double> g = golden_forward_backward(c.problem, in, out, t.lse, threads);
  t.dq = std::move(g.dq), t.dk = std::move(g.dk), t.dv = std::move(g.dv), t.dsinks = std::move(g.dsinks);
  return t;
}

BackwardTensors naive_tensors(const CaseSpec& c, const Inputs& in, std::span<float> out, int threads) {
  std::vector<float> lse(lse_elements(c.problem.shape));
  return from(lse, naive_forward_backward(c.problem, in, c.recipe, out, lse, threads));
}

BackwardTensors tiled_tensors(const CaseSpec& c, const Inputs& in, std::span<const double> out,
                              std::span<const float> lse, int threads, Fault fault) {
  const TiledOptions opt{.recipe = c.recipe, .tiles = c.tiles, .threads = threads, .fault = fault};
  const std::vector<float> o(out.begin(), out.end());  // the kernel's own float output, exactly
  return from(lse, tiled_backward(c.problem, in, o, lse, opt));
}

BackwardTensors tiled_tensors(const CaseSpec& c, const Inputs& in, std::span<const double> out, int threads, Fault fault) {
  std::vector<float> lse(lse_elements(c.problem.shape));
  tiled_lse(c.problem, in, {.recipe = c.recipe, .tiles = c.tiles, .threads = threads, .fault = fault}, lse);
  return tiled_tensors(c, in, out, lse, threads, fault);
}

bool read_candidate_file(const std::string& path, const CaseSpec& c, const CandidateReadOptions& opt,
                         std::vector<double>* out, BackwardTensors* t, std::string* err) {
  const Shape& s = c.problem.shape;
  std::vector<ExtraTensor> extra;
  for (std::size_t i = 0; i < BackwardTensors::kNames.size(); ++i)
    extra.push_back({.name = BackwardTensors::kNames[i],
                     .shape = tensor_shape(s, i),
                     .required = tensor_required(c, i)});
  std::vector<std::vector<double>> found;
  const Index4 dims{s.batch, s.tokens, s.heads, s.head_dim};
  if (!read_candidate_tensors(path, dims, extra, opt, out, &found, err)) return false;
  for (std::size_t i = 0; i < found.size(); ++i) t->at(i) = std::move(found[i]);
  if (std::string problem = handed_tensors_problem(c, *t); !problem.empty()) {
    *err = fmt::format("{}: error: {}", path, problem);
    return false;
  }
  return true;
}

std::string handed_tensors_problem(const CaseSpec& c, const BackwardTensors& t) {
  for (std::size_t i = 1; i < BackwardTensors::kNames.size(); ++i) {
    const char* name = BackwardTensors::kNames[i];
    if (tensor_required(c, i) && t.at(i).empty())
      return fmt::format("case '{}' is a backward case and '{}' was not handed back (SPEC §10: dq, dk, dv{})",
                         printable(c.name), name, c.problem.has_sinks ? ", dsinks" : "");
    if (!c.backward && !t.at(i).empty())
      return fmt::format("'{}', a gradient, was handed back and case '{}' is forward only\nnote: set \"backward\": "
                         "true in the case to judge the backward pass (SPEC §10)",
                         name, printable(c.name));
    if (i == 4 && !c.problem.has_sinks && !t.at(i).empty())
      return fmt::format("'dsinks' was handed back and case '{}' has no sinks", printable(c.name));
  }
  return "";
}

bool judge_tensors(const CaseSpec& c, const BackwardTensors& candidate, const BackwardTensors& golden,
                   const BackwardTensors& naive, const BackwardTensors* expected, int threads,
                   std::vector<TensorResult>* out, std::string* err) {
  const Shape& s = c.problem.shape;
  for (std::size_t i = 0; i < BackwardTensors::kNames.size(); ++i) {
    const std::vector<double>& x = candidate.at(i);
    const std::vector<double>& g = golden.at(i);
    if (g.empty() || (i == 0 && x.empty())) continue;  // no sinks: no dsinks; an lse not handed back
    if (x.size() != g.size()) {
      *err = fmt::format("the candidate's {} has {} elements, expected {}", BackwardTensors::kNames[i], x.size(), g.size());
      return false;
    }
    const Index4 dims = tensor_dims(s, i);
    TensorResult t{.name = BackwardTensors::kNames[i],
                   .vs_golden = compute_metrics(x, g, dims, c.tolerance, threads),
                   .vs_naive = compute_metrics(x, naive.at(i), dims, c.tolerance, threads),
                   .naive_vs_golden = compute_metrics(naive.at(i), g, dims, c.tolerance, threads)};
    const double eps = tensor_eps(c.recipe, i, g);
    const double naive_err = t.naive_vs_golden.max_abs.value_or(0.0);
    const double k = gradient_k(c.recipe, i);
    t.gates.push_back(max_abs_gate("max_abs_vs_naive", k, t.vs_golden, naive_err, eps, "naive's max_abs"));
    if (expected) {
      t.expected_vs_golden = compute_metrics(expected->at(i), g, dims, c.tolerance, threads);
      const double yard = std::max(t.expected_vs_golden->max_abs.value_or(0.0), naive_err);
      t.gates.push_back(max_abs_gate("max_abs_vs_expected", k, t.vs_golden, yard, eps, "max(tiled's, naive's) max_abs"));
    }
    if (i == 4) t.gates.push_back(per_element_gate(k, x, g, naive.at(i)));
    out->push_back(std::move(t));
  }
  return true;
}

}  // namespace attn
