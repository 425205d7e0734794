#include "src/judge/runner.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/backward.hpp"
#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "src/base/memory.hpp"
#include "src/base/numfmt.hpp"
#include "src/base/poison.hpp"
#include "src/judge/coverage.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/judge/tensor_localisation.hpp"
#include "src/suite/inputs.hpp"

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

bool same_tolerance(const Tolerance& a, const Tolerance& b) { return a.atol == b.atol && a.rtol == b.rtol; }

}  // namespace

std::vector<float> run_tiled(const CaseSpec& c, const Inputs& in, int threads, Fault fault, std::vector<float>* lse) {
  std::vector<float> out(c.problem.shape.q_elements());
  poison(out);  // ATTN_DIFF_POISON: the kernel must write every element
  const TiledOptions opt{.recipe = c.recipe, .tiles = c.tiles, .threads = threads, .fault = fault};
  if (!lse) {
    tiled_attention(c.problem, in, opt, out);
    return out;
  }
  lse->resize(lse_elements(c.problem.shape));
  tiled_attention(c.problem, in, opt, out, *lse);
  return out;
}

Candidate tiled_candidate(int threads) {
  return {.kernel = "tiled", .is_expected = true,
          .produce = [threads](PreparedCase& p, std::vector<double>* out, std::string*) {
            *out = p.tiled_output(threads);  // and its LSE, for the backward
            return true;
          },
          .produce_tensors = [threads](PreparedCase& p, std::span<const double>, BackwardTensors* t, std::string*) {
            if (p.spec.backward) *t = p.take_tiled_tensors(threads);
            return true;
          }};
}

Candidate mutant_candidate(const MutantInfo& m, int threads) {
  return {.kernel = "mutant:" + m.name, .is_expected = false,
          .produce = [&m, threads](PreparedCase& p, std::vector<double>* out, std::string*) {
            *out = widen(run_tiled(p.spec, p.inputs, threads, m.fault));
            return true;
          },
          .produce_tensors = [&m, threads](PreparedCase& p, std::span<const double> out, BackwardTensors* t,
                                           std::string*) {
            if (p.spec.backward) *t = tiled_tensors(p.spec, p.inputs, out, threads, m.fault);
            return true;
          },
          .unsupported = [&m](const CaseSpec& c) { return mutant_unsupported(m, c); }};
}

Candidate output_candidate(const std::vector<double>& values, const BackwardTensors& tensors) {
  return {.kernel = "external", .is_expected = false,
          .produce = [&values](PreparedCase&, std::vector<double>* out, std::string*) {
            *out = values;
            return true;
          },
          .produce_tensors = [&tensors](PreparedCase&, std::span<const double>, BackwardTensors* t, std::string*) {
            *t = tensors;
            return true;
          }};
}

CaseResult judge_output(PreparedCase& p, const std::vector<double>& values, const BackwardTensors& tensors,
                        Layout declared, int threads, bool diagnose) {
  CaseResult r = judge(p, output_candidate(values, tensors), {.threads = threads});
  if (diagnose) diagnose_failure(p, values, tensors, declared, threads, &r);
  return r;
}

PreparedCase prepare_case(const CaseSpec& c, int threads) {
  const auto start = std::chrono::steady_clock::now();
  reset_peak_memory();  // judge() reports the peak since here
  PreparedCase p = prepare_case(c, make_inputs(c, threads), threads);
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

PreparedCase prepare_case(const CaseSpec& c, Inputs inputs, int threads) {
  const auto start = std::chrono::steady_clock::now();
  reset_peak_memory();  // judge() reports the peak since here
  const Shape& s = c.problem.shape;
  PreparedCase p;
  p.spec = c;
  p.inputs = std::move(inputs);
  p.coverage = compute_coverage(c, p.inputs);
  p.golden.resize(s.q_elements());
  poison(p.golden);
  std::vector<float> naive(s.q_elements());
  poison(naive);
  if (c.backward) {  // the references' forward, LSE and backward in one pass each
    p.golden_tensors = golden_tensors(c, p.inputs, p.golden, threads);
    p.naive_tensors = naive_tensors(c, p.inputs, naive, threads);
  } else {
    golden_attention(c.problem, p.inputs, p.golden, threads);
    naive_attention(c.problem, p.inputs, c.recipe, naive, threads);
  }
  p.naive = widen(naive);
  p.naive_vs_golden = compute_metrics(p.naive, p.golden, p.dims(), c.tolerance, threads);
  p.empty_rows = c.problem.empty_rows();
  for (double g : p.golden) p.golden_max_abs_value = std::max(p.golden_max_abs_value, std::abs(g));
  double abs_floor = 0.0;
  if (const double u = probs_rounding_unit(c.recipe, &abs_floor); u > 0.0)
    p.probs_rounding = probs_rounding_bound(c.problem, p.inputs, u, abs_floor, threads);
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return p;
}

const BackwardTensors& PreparedCase::tiled_tensors(int threads) {
  if (tiled_tensors_) return *tiled_tensors_;
  const std::vector<double>& out = tiled_output(threads);
  if (spec.backward) tiled_tensors_ = attn::tiled_tensors(spec, inputs, out, tiled_lse_, threads);
  else tiled_tensors_ = BackwardTensors{.lse = {tiled_lse_.begin(), tiled_lse_.end()}};
  return *tiled_tensors_;
}

BackwardTensors PreparedCase::take_tiled_tensors(int threads) {
  tiled_tensors(threads);
  BackwardTensors t = std::move(*tiled_tensors_);
  tiled_tensors_.reset();
  return t;
}

DumpOutputs dump_outputs(PreparedCase& p, int threads) {
  DumpOutputs o{.golden = p.golden, .naive = p.naive, .tiled = p.tiled_output(threads)};
  if (p.spec.backward)
    for (std::size_t t = 0; t < BackwardTensors::kNames.size(); ++t)
      if (!p.golden_tensors->at(t).empty())
        o.golden_tensors.push_back({BackwardTensors::kNames[t], tensor_shape(p.spec.problem.shape, t), p.golden_tensors->at(t)});
  return o;
}

void PreparedCase::reference_tensors(int threads) {
  if (golden_tensors) return;
  golden_tensors = BackwardTensors{.lse = std::vector<double>(lse_elements(spec.problem.shape))};
  golden_lse(spec.problem, inputs, golden_tensors->lse, threads);
  std::vector<float> lse(golden_tensors->lse.size());
  naive_lse(spec.problem, inputs, spec.recipe, lse, threads);
  naive_tensors = BackwardTensors{.lse = {lse.begin(), lse.end()}};
}

const Metrics& PreparedCase::tiled_vs_golden(int threads) {
  if (!tiled_metrics_) tiled_metrics_ = compute_metrics(tiled_output(threads), golden, dims(), spec.tolerance, threads);
  return *tiled_metrics_;
}

const std::vector<double>& PreparedCase::tiled_output(int threads) {
  if (!tiled_output_) {
    std::vector<float> out(spec.problem.shape.q_elements());
    poison(out);  // ATTN_DIFF_POISON: the kernel must write every element
    tiled_lse_.resize(lse_elements(spec.problem.shape));
    tiled_attention(spec.problem, inputs, {.recipe = spec.recipe, .tiles = spec.tiles, .threads = threads}, out, tiled_lse_);
    tiled_output_ = widen(out);
  }
  return *tiled_output_;
}

CaseResult judge(PreparedCase& p, const Candidate& cand, const RunOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  const CaseSpec& c = p.spec;
  CaseResult r{.spec = c, .kernel = cand.kernel, .naive_vs_golden = p.naive_vs_golden, .empty_rows = p.empty_rows,
               .golden_max_abs_value = p.golden_max_abs_value, .coverage = p.coverage,
               .input_scales = {p.inputs.q_scale, p.inputs.k_scale, p.inputs.v_scale, p.inputs.sinks_scale},
               .k_head_scales = p.inputs.k_head_scales, .v_head_scales = p.inputs.v_head_scales};
  auto finish = [&] {
    r.seconds = p.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.peak_memory_bytes = peak_memory_bytes();
    return r;
  };
  if (c.backward && !cand.produce_tensors)  // compare and the Python module judge without asking first
    return unsupported_result(c, cand, unsupported_reason(c, cand));
  std::vector<double> candidate;
  std::string err;
  const bool produced = cand.produce(p, &candidate, &err);
  if (cand.last_run) r.candidate_run = cand.last_run();
  if (!produced) {
    const bool declined = r.candidate_run && !r.candidate_run->unsupported.empty();
    r.verdict = declined ? Verdict::unsupported : Verdict::error;
    r.error = declined ? r.candidate_run->unsupported : err;
    return finish();
  }
  if (candidate.size() != p.golden.size()) {
    r.verdict = Verdict::error;
    r.error = fmt::format("the candidate has {} elements, expected {}", candidate.size(), p.golden.size());
    return finish();
  }
  const Index4 dims = p.dims();
  r.vs_golden = compute_metrics(candidate, p.golden, dims, c.tolerance, opt.threads);
  r.vs_naive = compute_metrics(candidate, p.naive, dims, c.tolerance, opt.threads);
  if (!cand.is_expected) r.expected_vs_golden = p.tiled_vs_golden(opt.threads);
  r.worst = worst_elements(candidate, p.golden, dims, opt.worst);
  if (opt.breakdown) r.breakdown = compute_breakdown(c, candidate, p.golden);

  r.gates = evaluate_gates(c.gates, {.vs_golden = r.vs_golden,
                                     .naive_vs_golden = r.naive_vs_golden,
                                     .expected_vs_golden = r.expected_vs_golden ? &*r.expected_vs_golden : nullptr,
                                     .golden_max_abs_value = r.golden_max_abs_value,
                                     .output = c.recipe.output,
                                     .probs_rounding = p.probs_rounding,
                                     .default_tolerance = same_tolerance(c.tolerance, default_tolerance(c.recipe)),
                                     .narrow_internals = c.recipe.narrow_internals()});
  // NaN or Inf in the candidate where golden is finite fails the case whatever the gates say.
  if (const std::int64_t bad = r.vs_golden.unexpected_nonfinite) {
    const Index4& at = *r.vs_golden.first_nonfinite_index;
    const double first = candidate[std::size_t(((at[0] * dims[1] + at[1]) * dims[2] + at[2]) * dims[3] + at[3])];
    r.failures.push_back(fmt::format("{} non-finite candidate values where golden is finite; the first is {} at [{}]", bad,
                                     first, fmt::join(at, ",")));
  }
  // "gate NAME: VALUE OP BOUND", or the note when the value is undefined; a backward tensor's gates
  // (src/judge/tensors.hpp) are all upper bounds.
  auto gate_failure = [](const GateResult& g, bool lower) {
    return fmt::format("gate {}: {}", g.name, g.value ? comparison_text(*g.value, lower ? "<" : ">", g.bound) : g.note);
  };
  for (const GateResult& g : r.gates)
    if (!g.pass) r.failures.push_back(gate_failure(g, find_gate_kind(g.name)->lower));
  r.output_failed = !r.failures.empty();
  BackwardTensors t;  // SPEC §10: the other tensors, each with its own gates
  if (cand.produce_tensors && !cand.produce_tensors(p, candidate, &t, &err)) {
    r.verdict = Verdict::error;
    r.error = err;
    return finish();
  }
  if (std::string problem = handed_tensors_problem(c, t); !problem.empty()) {
    r.verdict = Verdict::error;
    r.error = std::move(problem);
    return finish();
  }
  if (c.backward || !t.lse.empty()) {
    p.reference_tensors(opt.threads);
    if (!judge_tensors(c, t, *p.golden_tensors, *p.naive_tensors,
                       cand.is_expected ? nullptr : &p.tiled_tensors(opt.threads), opt.threads, &r.tensors, &err)) {
      r.verdict = Verdict::error;
      r.error = err;
      return finish();
    }
    for (const TensorResult& tr : r.tensors) {
      if (const std::int64_t bad = tr.vs_golden.unexpected_nonfinite)
        r.failures.push_back(fmt::format("{}: {} non-finite candidate values where golden is finite", tr.name, bad));
      for (const GateResult& g : tr.gates)
        if (!g.pass) r.failures.push_back(tr.name + ": " + gate_failure(g, false));
    }
  }
  r.verdict = r.failures.empty() ? Verdict::pass : Verdict::fail;
  if (r.verdict == Verdict::fail && opt.breakdown && r.output_failed) {  // one pass over the error; failures only need the words
    LocalisationInput li{.spec = c, .candidate = candidate, .golden = p.golden, .naive = p.naive,
                         .tiled = cand.is_expected ? std::span<const double>() : std::span<const double>(p.tiled_output(opt.threads))};
    localisation_envelope(c, p.golden_max_abs_value, p.probs_rounding, &li.k_naive, &li.k_tiled, &li.floor);
    r.localisation = localise(li);
  }
  for (TensorResult& tr : r.tensors) {  // each tensor's heatmap, and each failing one's own words
    if (!opt.breakdown) break;
    const std::size_t i = tensor_index(tr.name);
    const std::vector<double>& g = p.golden_tensors->at(i);
    if (i != 4) tr.heatmap = tensor_heatmap(c.problem.shape, i, t.at(i), g);
    if (std::all_of(tr.gates.begin(), tr.gates.end(), [](const GateResult& gr) { return gr.pass; })) continue;
    tr.localisation = localise_tensor({.spec = c, .tensor = i, .candidate = t.at(i), .golden = g,
                                       .naive = p.naive_tensors->at(i),
                                       .tiled = cand.is_expected ? std::span<const double>() : p.tiled_tensors(opt.threads).at(i),
                                       .k = gradient_k(c.recipe, i), .eps = tensor_eps(c.recipe, i, g)});
  }
  if (opt.keep_candidate) *opt.keep_candidate = std::move(candidate);
  if (opt.keep_tensors) *opt.keep_tensors = std::move(t);
  return finish();
}

std::string unsupported_reason(const CaseSpec& c, const Candidate& cand) {
  if (c.backward && !cand.produce_tensors)
    return "a backward case (SPEC §10), and this candidate computes no gradients";
  return cand.unsupported ? cand.unsupported(c) : std::string();
}

CaseResult unsupported_result(const CaseSpec& c, const Candidate& cand, std::string why) {
  return {.spec = c, .kernel = cand.kernel, .verdict = Verdict::unsupported, .error = std::move(why)};
}

CaseResult run_case(const CaseSpec& c, const Candidate& cand, const RunOptions& opt) {
  if (std::string why = unsupported_reason(c, cand); !why.empty()) return unsupported_result(c, cand, why);
  PreparedCase p = prepare_case(c, opt.threads);
  return judge(p, cand, opt);
}

}  // namespace attn
