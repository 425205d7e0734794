#include "src/judge/backward_diagnosis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "src/judge/diagnosis.hpp"

namespace attn {

namespace {

// Equal values (an empty row's -inf lse in both) are 0 apart; any other non-finite difference is infinite.
double max_abs_diff(std::span<const double> a, std::span<const double> b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    const double d = std::abs(a[i] - b[i]);
    if (!std::isfinite(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// The error rounding explains for a tensor: 2 × the larger of the correct tiled kernel's and naive's
// max_abs against golden, plus `eps`.
double envelope(std::span<const double> tiled, std::span<const double> naive, std::span<const double> golden, double eps) {
  const double env = 2.0 * std::max(max_abs_diff(tiled, golden), max_abs_diff(naive, golden)) + eps;
  return env > 0 ? env : 1e-300;
}

struct LseConvention {
  const char* name;
  const char* description;
};
constexpr LseConvention kLseConventions[] = {
    {"lse:log2", "the lse is stored in base 2 (log2 of the normaliser, as kernels built on exp2 keep it), not the natural log"},
    {"lse:no_sink", "the lse leaves the sink out: the log of the visible keys' sum only"},
};

// Golden's lse ([B][H][Sq]) as a kernel with that convention hands it back.
std::vector<double> lse_by_convention(const PreparedCase& p, std::string_view name, const std::vector<double>& lse) {
  const Shape& s = p.spec.problem.shape;
  std::vector<double> out(lse.size());
  if (name == "lse:log2") {
    for (std::size_t n = 0; n < lse.size(); ++n) out[n] = lse[n] * std::numbers::log2e;
    return out;
  }
  // log(exp(lse) - exp(sink)) = lse + log(1 - exp(sink - lse)); -inf on a row with no visible key.
  for (std::size_t n = 0; n < lse.size(); ++n) {
    const double sink = double(p.inputs.sinks[std::size_t((std::int64_t(n) / s.tokens) % s.heads)]);
    out[n] = lse[n] + std::log1p(-std::min(1.0, std::exp(sink - lse[n])));
  }
  return out;
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

const char* lse_convention_description(std::string_view name) {
  for (const LseConvention& l : kLseConventions)
    if (name == l.name) return l.description;
  return nullptr;
}

std::vector<Hypothesis> diagnose_tensors(PreparedCase& p, std::span<const double> out, const BackwardTensors& candidate,
                                         int threads) {
  const CaseSpec& c = p.spec;
  p.reference_tensors(threads);  // on a forward case, the references' lse
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
    j.envelope.push_back(envelope(t, n, g, eps));
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
    if (c.backward) {
      cand.produce(p, &m_out, &err);
      cand.produce_tensors(p, m_out, &m_t, &err);
    } else {  // the output and the lse of one tiled pass
      std::vector<float> lse_f;
      const std::vector<float> out_f = run_tiled(c, p.inputs, threads, m.fault, &lse_f);
      m_out.assign(out_f.begin(), out_f.end());
      m_t.lse.assign(lse_f.begin(), lse_f.end());
    }
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

  // The lse conventions: golden everywhere but in the lse.
  const auto lse_at = std::find(j.index.begin(), j.index.end(), std::size_t(0));
  for (const LseConvention& l : kLseConventions) {
    if (lse_at == j.index.end()) break;  // no lse handed back
    if (std::string_view(l.name) == "lse:no_sink" && !c.problem.has_sinks) {
      out_h.push_back({l.name, 0.0, "not applicable: the case has no sinks"});
      continue;
    }
    const std::vector<double> lse = lse_by_convention(p, l.name, golden.lse);
    std::vector<std::span<const double>> predicted = j.golden;
    predicted[std::size_t(lse_at - j.index.begin())] = lse;
    scored(l.name, distance(j, predicted), std::string("matches golden except that ") + l.description);
  }
  std::stable_sort(out_h.begin(), out_h.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  return out_h;
}

void use_lse(const DiagnosisContext& ctx, PreparedCase& p, std::span<const double> lse, int threads,
             std::vector<Hypothesis>* h) {
  p.reference_tensors(threads);
  const std::vector<double>& golden = p.golden_tensors->lse;
  const double env = envelope(p.tiled_tensors(threads).lse, p.naive_tensors->lse, golden,
                              tensor_eps(p.spec.recipe, 0, golden));
  for (Hypothesis& x : *h) {
    if (x.score <= 0) continue;  // not applicable, or infinitely far already
    std::span<const double> predicted;
    const auto in_ctx = std::find_if(ctx.hypotheses.begin(), ctx.hypotheses.end(),
                                     [&](const HypothesisPrediction& c) { return c.name == x.name; });
    if (x.name == "precision" || (x.name.starts_with("layout:") && x.name != "layout:swap_tokens_heads")) {
      predicted = golden;  // rounding, or golden's output stored in another order: the lse is golden's
    } else if (in_ctx != ctx.hypotheses.end() && !in_ctx->lse.empty()) {
      predicted = in_ctx->lse;  // a mutant's, from the pass that gave its output
    } else {
      x.evidence += "; it predicts no lse, so the candidate's lse does not bear on it";
      continue;
    }
    const double d = max_abs_diff(lse, predicted) / env;
    x.score = std::min(x.score, std::isfinite(d) ? 1.0 / (1.0 + d) : 0.0);
    if (x.name == "precision")
      x.evidence += d <= 1 ? fmt::format("; the candidate's lse is {:.2g}x its precision envelope {:.2e} from golden's: "
                                         "the softmax's normaliser is right (no scale, sink or mask error leaves it "
                                         "so), so the error is most likely in how P weights V or in the output's write",
                                         d, env)
                           : fmt::format("; the candidate's lse is {:.2g}x its precision envelope {:.2e} from golden's: "
                                         "the softmax's normaliser is wrong too (scores, mask, scale or sinks)",
                                         d, env);
    else
      x.evidence += fmt::format("; its lse is {:.2g}x the lse's precision envelope {:.2e} from the candidate's{}", d, env,
                                d <= 1 ? "" : ", more than rounding explains");
  }
  std::stable_sort(h->begin(), h->end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
}

}  // namespace attn
