#include "src/judge/backward_diagnosis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "src/judge/diagnosis.hpp"

namespace attn {

namespace {

double max_abs_diff(std::span<const double> a, std::span<const double> b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - b[i]);
    if (!std::isfinite(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// The tensors a hypothesis is compared on: the output first, then each one the candidate handed back.
struct Judged {
  std::vector<const char*> names;
  std::vector<std::size_t> index;  // into BackwardTensors (kNames.size() for the output)
  std::vector<std::span<const double>> candidate, golden;
  std::vector<double> envelope;
};

// One prediction's distance from the candidate: the worst tensor's, in units of its envelope.
struct Distance {
  double d = 0;
  std::size_t worst = 0;
};

Distance distance(const Judged& j, const std::vector<std::span<const double>>& predicted) {
  Distance best;
  for (std::size_t t = 0; t < j.names.size(); ++t) {
    const double d = max_abs_diff(j.candidate[t], predicted[t]) / j.envelope[t];
    if (d > best.d || t == 0) best = {d, t};
  }
  return best;
}

}  // namespace

std::vector<Hypothesis> diagnose_tensors(PreparedCase& p, std::span<const double> out, const BackwardTensors& candidate,
                                         int threads) {
  const CaseSpec& c = p.spec;
  const BackwardTensors& golden = *p.golden_tensors;
  const BackwardTensors& naive = *p.naive_tensors;
  const BackwardTensors& tiled = p.tiled_tensors(threads);
  const std::vector<double>& tiled_out = p.tiled_output(threads);
  const double out_eps =
      unit_roundoff(scaled_dtype(c.recipe.output) ? DType::f32 : c.recipe.output) * p.golden_max_abs_value;

  Judged j;
  const auto add = [&](const char* name, std::size_t index, std::span<const double> cand, std::span<const double> g,
                       std::span<const double> n, std::span<const double> t, double eps) {
    j.names.push_back(name), j.index.push_back(index), j.candidate.push_back(cand), j.golden.push_back(g);
    const double env = 2.0 * std::max(max_abs_diff(t, g), max_abs_diff(n, g)) + eps;
    j.envelope.push_back(env > 0 ? env : 1e-300);
  };
  add("out", BackwardTensors::kNames.size(), out, p.golden, p.naive, tiled_out, out_eps);
  for (std::size_t i = 0; i < BackwardTensors::kNames.size(); ++i)
    if (!candidate.at(i).empty() && !golden.at(i).empty())
      add(BackwardTensors::kNames[i], i, candidate.at(i), golden.at(i), naive.at(i), tiled.at(i),
          tensor_eps(c.recipe, i, golden.at(i)));

  std::vector<Hypothesis> out_h;
  const auto scored = [&](std::string name, const Distance& d, const std::string& what) {
    const double score = std::isfinite(d.d) ? 1.0 / (1.0 + d.d) : 0.0;
    out_h.push_back({std::move(name), score,
                     d.d == 0 ? what + ": every tensor, bit for bit"
                              : fmt::format("{}: the worst tensor, {}, is {:.2g}x its precision envelope {:.2e} away{}",
                                            what, j.names[d.worst], d.d, j.envelope[d.worst],
                                            d.d <= 1 ? ": within what rounding explains" : "")});
  };
  scored("precision", distance(j, j.golden), "against golden");

  for (const MutantInfo& m : mutants()) {
    const Candidate cand = mutant_candidate(m, threads);
    if (std::string why = unsupported_reason(c, cand); !why.empty()) {
      out_h.push_back({m.name, 0.0, why});
      continue;
    }
    std::vector<double> m_out;
    BackwardTensors m_t;
    std::string err;
    cand.produce(p, &m_out, &err);
    cand.produce_tensors(p, m_out, &m_t, &err);
    std::vector<std::span<const double>> predicted = {m_out};
    bool identical = m_out == tiled_out;
    for (std::size_t t = 1; t < j.names.size(); ++t) {
      const std::size_t i = j.index[t];
      predicted.push_back(m_t.at(i));
      identical &= m_t.at(i) == tiled.at(i);
    }
    if (identical) {
      out_h.push_back({m.name, 0.0,
                       "its output and tensors are the correct kernel's on this case, bit for bit, so it cannot "
                       "explain a failure here"});
      continue;
    }
    scored(m.name, distance(j, predicted), "matches the kernel in which " + m.description);
  }
  std::stable_sort(out_h.begin(), out_h.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  return out_h;
}

}  // namespace attn
