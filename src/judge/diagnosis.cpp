#include "src/judge/diagnosis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>

#include "kernels/golden.hpp"
#include "kernels/mutants.hpp"
#include "src/judge/backward_diagnosis.hpp"
#include "src/judge/coverage.hpp"
#include "src/judge/fingerprint.hpp"
#include "src/judge/metrics.hpp"
#include "src/suite/dtype.hpp"

namespace attn {

namespace {

// How many of the best hypotheses are checked against each other for identical predictions.
constexpr std::size_t kTieWindow = 6;
// Predictions closer than this (in units of a correct kernel's error) cannot be told apart.
constexpr double kIndistinguishable = 0.05;

// Layout mix-ups: the output stored in another axis order than the one it was read with.
struct OrderMixup {
  AxisOrder order;
  const char* stored_as;
};
constexpr OrderMixup kOrders[] = {
    {{'b', 's', 'h', 'd'}, "[B][Sq][H][D] (bshd)"},
    {{'b', 'h', 's', 'd'}, "[B][H][Sq][D] (bhsd, as torch SDPA returns it)"},
    {{'b', 's', 'd', 'h'}, "[B][Sq][D][H] (head dim and heads swapped)"},
    {{'s', 'b', 'h', 'd'}, "[Sq][B][H][D] (tokens first)"},
};

template <class A, class B>
double sum_sq_diff(std::span<const A> a, std::span<const B> b) { return diff_sq_and_max(a, b).first; }

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Why a mutant whose output equals the correct kernel's cannot show here: the coverage paths it
// needs that the case lacks, in words ("no sliding window that hides keys ...").
std::string identical_reason(const MutantInfo& m, const std::vector<std::string>& covered) {
  std::vector<std::string> missing;
  for (const std::string& need : m.needs) {
    if (std::find(covered.begin(), covered.end(), need) != covered.end()) continue;
    std::string what = need;
    for (const CoveragePath& c : coverage_paths())
      if (c.name == need) what = c.description;
    for (const char* article : {"a ", "an "})
      if (what.starts_with(article)) what = what.substr(std::strlen(article));
    missing.push_back("no " + what);
  }
  std::string why = "the bug changes no output element here";
  if (!missing.empty()) {
    why = "the case has " + missing[0];
    for (std::size_t i = 1; i < missing.size(); ++i) why += " and " + missing[i];
  }
  return fmt::format("its output is identical to the correct kernel's on this case ({}), so it cannot explain a failure "
                     "here", why);
}

std::string nmse_text(double x) {
  if (x == 0) return "0";
  if (!std::isfinite(x)) return "inf";
  return fmt::format("{:.1e}", x);
}

// A candidate that returns values computed beforehand, so judge() can tell whether a prediction
// would itself fail the case.
Candidate stored(const std::vector<float>& values) {
  return {.kernel = "prediction", .is_expected = false,
          .produce = [&values](PreparedCase&, std::vector<double>* out, std::string*) {
            out->assign(values.begin(), values.end());
            return true;
          }};
}

std::vector<float> narrow(const std::vector<double>& x) { return {x.begin(), x.end()}; }

// Golden of a bhsd kernel handed bshd tensors: it attends over heads and treats tokens as heads.
// Returns false (with why) where such a kernel could not even run on these shapes.
bool swapped_golden(const PreparedCase& p, std::vector<double>* out, std::string* why, int threads) {
  const Shape& s = p.spec.problem.shape;
  if (s.tokens != s.kv_tokens || s.heads != s.kv_heads || p.spec.problem.has_sinks) {
    *why = "needs Sq = Sk, H = Hkv and no sinks: on other shapes a bhsd kernel fed bshd tensors cannot run";
    return false;
  }
  Problem q = p.spec.problem;
  q.shape.tokens = q.shape.kv_tokens = s.heads;
  q.shape.heads = q.shape.kv_heads = s.tokens;
  q.shape.q_offset = 0;
  const Index4 dims = p.dims();
  const AxisOrder bhsd{'b', 'h', 's', 'd'};
  auto swap = [&](const std::vector<float>& x) {
    const std::vector<double> w(x.begin(), x.end());
    const std::vector<double> t = permute_from_bshd(w, dims, bhsd);
    return std::vector<float>(t.begin(), t.end());
  };
  Inputs in{.q = swap(p.inputs.q), .k = swap(p.inputs.k), .v = swap(p.inputs.v)};
  std::vector<double> o(s.q_elements());
  golden_attention(q, in, o, threads);
  // o is [B][H][Sq][D] seen from the real problem; the kernel hands it back in the tensor it was given.
  *out = permute_to_bshd(o, dims, bhsd);
  return true;
}

// The yardsticks every hypothesis is scored with: golden's energy (the NMSE denominator), the
// errors a correct kernel shows, and the precision envelope.
void set_yardsticks(PreparedCase& p, int threads, DiagnosisContext* ctx) {
  const CaseSpec& c = p.spec;
  for (double g : p.golden) ctx->reference_sq += std::isfinite(g) ? g * g : 0.0;
  if (ctx->reference_sq == 0) ctx->reference_sq = double(p.golden.size());
  const Metrics& tiled = p.tiled_vs_golden(threads);
  const double u = c.recipe.output == DType::int8 ? 1.0 / 254.0 : unit_roundoff(c.recipe.output);
  auto nmse_of = [&](const Metrics& m) { return m.rmse ? *m.rmse * *m.rmse * double(m.elements) / ctx->reference_sq : 0.0; };
  ctx->noise_nmse = std::max({nmse_of(tiled), nmse_of(p.naive_vs_golden), u * u / 12.0, 1e-300});
  // A prediction is the tiled kernel plus one fault, so it carries the tiled kernel's rounding; a
  // candidate with the same bug carries at most a correct kernel's. Independent errors add.
  ctx->match_nmse = std::max(nmse_of(tiled), u * u / 12.0) + ctx->noise_nmse;
  ctx->tiled_max_abs = tiled.max_abs.value_or(0.0);
  ctx->naive_max_abs = p.naive_vs_golden.max_abs.value_or(0.0);
  ctx->ulp_floor = u * p.golden_max_abs_value;
  ctx->envelope = 2.0 * std::max(ctx->tiled_max_abs, ctx->naive_max_abs) + ctx->ulp_floor;
  if (ctx->envelope == 0) ctx->envelope = 1e-300;
}

// A prediction that passes the case's own gates is indistinguishable from a correct kernel here:
// it becomes not applicable, for the reason `passes`.
void drop_if_passing(PreparedCase& p, int threads, HypothesisPrediction& h, const char* passes) {
  if (!h.not_applicable.empty()) return;
  const RunOptions judge_opt{.threads = threads, .worst = 0, .breakdown = false};
  if (judge(p, stored(h.values), judge_opt).verdict == Verdict::pass) {
    h.not_applicable = passes;
    h.values.clear();
    h.values.shrink_to_fit();
  }
}

// Every mutant's output on the case, in table order.
std::vector<HypothesisPrediction> mutant_hypotheses(PreparedCase& p, int threads) {
  const CaseSpec& c = p.spec;
  // A mutant whose output is the correct kernel's, bit for bit, is no cause of anything here, even
  // where the correct kernel itself fails the case's gates (then every such mutant would "match").
  std::vector<double> correct_out;
  std::string correct_err;
  const bool have_correct = tiled_candidate(threads).produce(p, &correct_out, &correct_err);
  const std::vector<float> correct = narrow(correct_out);
  std::vector<HypothesisPrediction> out;
  for (const MutantInfo& m : mutants()) {
    HypothesisPrediction h{.name = m.name, .description = m.description};
    const Candidate cand = mutant_candidate(m, threads);
    h.not_applicable = unsupported_reason(c, cand);
    if (h.not_applicable.empty() && m.backward)  // its output is the correct kernel's by construction
      h.not_applicable = "a bug of the backward pass: its output is the correct kernel's, so it cannot explain the output's failure";
    if (h.not_applicable.empty()) {  // mutant_candidate's output, and the lse of the same pass
      std::vector<float> lse;
      h.values = run_tiled(c, p.inputs, threads, m.fault, &lse);
      h.lse.assign(lse.begin(), lse.end());
    }
    if (h.not_applicable.empty() && have_correct && bit_identical(h.values, correct)) {
      h.not_applicable = identical_reason(m, p.coverage);
      h.values.clear();
      h.values.shrink_to_fit();
    }
    drop_if_passing(p, threads, h, "on this case the bug stays within the gates (the mutant passes), so it cannot explain a failure here");
    out.push_back(std::move(h));
  }
  return out;
}

// Golden as a layout mix-up would show it: stored in each other axis order than the one it is
// read with (`declared`), then with tokens and heads swapped.
std::vector<HypothesisPrediction> layout_hypotheses(PreparedCase& p, Layout declared, int threads) {
  const Index4 dims = p.dims();
  const std::vector<float> golden_f = narrow(p.golden);
  const AxisOrder read_as = layout_order(declared);
  std::vector<HypothesisPrediction> out;
  for (const OrderMixup& o : kOrders) {
    if (o.order == read_as) continue;
    HypothesisPrediction h{.name = "layout:" + order_name(o.order),
                           .description = fmt::format("golden stored as {} but read as {}", o.stored_as, layout_name(declared))};
    h.values = narrow(permute_to_bshd(permute_from_bshd(p.golden, dims, o.order), dims, read_as));
    if (bit_identical(h.values, golden_f)) {
      h.not_applicable = "its output is golden's on this case (for these sizes the two orders coincide), so it cannot "
                         "explain a failure here";
      h.values.clear();
    }
    drop_if_passing(p, threads, h, "for these sizes the two orders coincide (or differ within the gates)");
    out.push_back(std::move(h));
  }
  HypothesisPrediction swap{.name = "layout:swap_tokens_heads",
                            .description = "golden with tokens and heads swapped in Q, K and V (bshd tensors handed to a "
                                           "bhsd kernel such as torch SDPA)"};
  std::vector<double> swapped;
  if (swapped_golden(p, &swapped, &swap.not_applicable, threads))
    swap.values = narrow(permute_to_bshd(swapped, dims, read_as));
  if (!swap.values.empty() && bit_identical(swap.values, golden_f)) {
    swap.not_applicable = "its output is golden's on this case, so it cannot explain a failure here";
    swap.values.clear();
  }
  drop_if_passing(p, threads, swap, "on this case it gives an output within the gates");
  out.push_back(std::move(swap));
  return out;
}


// How far the candidate is from golden: the NMSE, the NaN/Inf values where golden is finite, and
// the largest |c - golden| over the rest.
struct GoldenDistance {
  double nmse = 0.0;
  std::int64_t nonfinite = 0;
  double max_abs = 0.0;
};

GoldenDistance golden_distance(const DiagnosisContext& ctx, const PreparedCase& p, std::span<const double> candidate) {
  GoldenDistance g{.nmse = sum_sq_diff(candidate, std::span<const double>(p.golden)) / ctx.reference_sq};
  for (std::size_t n = 0; n < candidate.size(); ++n) {
    if (!std::isfinite(candidate[n])) {
      g.nonfinite += std::isfinite(p.golden[n]);
      continue;
    }
    g.max_abs = std::max(g.max_abs, std::abs(candidate[n] - p.golden[n]));
  }
  return g;
}

struct Scored {
  std::size_t index;  // into ctx.hypotheses: the tie-break order
  double score, d;
  std::string evidence;
};

// "precision": the candidate's distance from golden in units of what rounding explains.
Scored score_precision(const DiagnosisContext& ctx, const GoldenDistance& g, std::size_t index) {
  Scored s{.index = index, .score = 0.0, .d = std::numeric_limits<double>::infinity()};
  const double ratio = g.max_abs / ctx.envelope;
  if (g.nonfinite) {
    s.evidence = fmt::format("the candidate has {} NaN/Inf values where golden is finite; rounding never makes them",
                             g.nonfinite);
    return s;
  }
  // In RMS too, as for every other hypothesis: an error spread over every element (a bug
  // that is itself a rounding, acc_bf16) can stay under the max_abs envelope.
  const double d_rms = std::sqrt(g.nmse / (2.0 * ctx.noise_nmse));
  s.d = std::max(ratio, d_rms);
  s.score = 1.0 / (1.0 + s.d);
  s.evidence = fmt::format(
      "max_abs {:.2e} against golden is {:.2g}x the precision envelope {:.2e} (2 x max(correct tiled {:.2e}, naive "
      "{:.2e}) + 1 ulp) and NMSE {} against golden {:.2g}x its RMS counterpart (2 x a correct kernel's NMSE {}){}",
      g.max_abs, ratio, ctx.envelope, ctx.tiled_max_abs, ctx.naive_max_abs, nmse_text(g.nmse), d_rms,
      nmse_text(ctx.noise_nmse), s.d <= 1 ? ": within what rounding explains" : ": more than rounding explains");
  return s;
}

// An applicable mutant or layout mix-up: the candidate's distance from its prediction.
Scored score_prediction(const DiagnosisContext& ctx, const HypothesisPrediction& h, std::size_t index,
                        std::span<const double> candidate, const std::string& vs_golden) {
  Scored s{.index = index, .score = 0.0, .d = std::numeric_limits<double>::infinity()};
  const std::span<const float> pred(h.values);
  const auto [sq, worst] = diff_sq_and_max(candidate, pred);
  const double r = sq / ctx.reference_sq;
  // d <= 1: no farther from the prediction than the prediction's own rounding (the tiled
  // kernel's) plus a correct kernel's explain.
  const double d_rms = std::sqrt(r / ctx.match_nmse);
  // Within a correct kernel's error on average is not enough: a bug that touches few rows
  // (a sink scaled instead of dropped, seen only where a row has few keys) hides in the RMS.
  const double d_max = worst / ctx.envelope;
  s.d = std::max(d_rms, d_max);
  s.score = std::isfinite(s.d) ? 1.0 / (1.0 + s.d) : 0.0;
  const std::string what = h.name.starts_with("layout:") ? "matches " + h.description + ","
                                                         : "matches the kernel in which " + h.description + ",";
  s.evidence = r == 0 && worst == 0
                   ? fmt::format("{} bit for bit; {}", what, vs_golden)
                   : fmt::format("{} to NMSE {} ({:.2g}x a correct kernel's error) and max_abs {:.2e} ({:.2g}x the "
                                 "precision envelope); {}",
                                 what, nmse_text(r), d_rms, worst, d_max, vs_golden);
  return s;
}

// Best first: by score, then by distance, then in table order.
void rank(std::vector<Scored>* scored) {
  std::stable_sort(scored->begin(), scored->end(), [](const Scored& a, const Scored& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.d != b.d) return a.d < b.d;
    return a.index < b.index;
  });
}

// Two bugs can give the same output on a case (no_sinks and sink_not_in_max when the sinks are
// tiny): the data cannot separate them, so the table order decides and the evidence says so.
void note_indistinguishable(const DiagnosisContext& ctx, std::vector<Scored>* ranked) {
  std::vector<Scored>& scored = *ranked;
  const std::size_t window = std::min(kTieWindow, scored.size());
  for (std::size_t i = 1; i < window; ++i) {
    const HypothesisPrediction& hi = ctx.hypotheses[scored[i].index];
    if (hi.values.empty() || scored[i].score == 0) continue;
    for (std::size_t j = 0; j < i; ++j) {
      const HypothesisPrediction& hj = ctx.hypotheses[scored[j].index];
      if (hj.values.empty() || scored[j].score == 0) continue;
      const double between =
          sum_sq_diff(std::span<const float>(hi.values), std::span<const float>(hj.values)) / ctx.reference_sq;
      const double dist = std::sqrt(between / (2.0 * ctx.noise_nmse));
      if (dist >= kIndistinguishable) continue;
      const std::string how = between == 0 ? "the identical output" : fmt::format("the same output to NMSE {}", nmse_text(between));
      scored[i].evidence += fmt::format("; {} gives {} on this case, so the two cannot be told apart here ({} is listed "
                                        "first{})",
                                        hj.name, how, hj.name,
                                        scored[i].score == scored[j].score ? " by table order" : "");
      scored[j].evidence += fmt::format("; {} gives {} on this case", hi.name, how);
      break;
    }
  }
}

}  // namespace

DiagnosisContext build_diagnosis_context(PreparedCase& p, Layout declared, int threads) {
  DiagnosisContext ctx;
  set_yardsticks(p, threads, &ctx);
  ctx.hypotheses.push_back({.name = "precision", .description = "rounding and tiling, as the precision recipe explains"});
  for (HypothesisPrediction& h : mutant_hypotheses(p, threads)) ctx.hypotheses.push_back(std::move(h));
  for (HypothesisPrediction& h : layout_hypotheses(p, declared, threads)) ctx.hypotheses.push_back(std::move(h));
  return ctx;
}

std::vector<Hypothesis> diagnose(const DiagnosisContext& ctx, const PreparedCase& p, std::span<const double> candidate) {
  const GoldenDistance g = golden_distance(ctx, p, candidate);
  const std::string vs_golden = fmt::format("against golden NMSE {}", nmse_text(g.nmse));
  std::vector<Scored> scored;
  for (std::size_t i = 0; i < ctx.hypotheses.size(); ++i) {
    const HypothesisPrediction& h = ctx.hypotheses[i];
    if (h.name == "precision") scored.push_back(score_precision(ctx, g, i));
    else if (!h.not_applicable.empty())
      scored.push_back({.index = i, .score = 0.0, .d = std::numeric_limits<double>::infinity(),
                        .evidence = "not applicable: " + h.not_applicable});
    else scored.push_back(score_prediction(ctx, h, i, candidate, vs_golden));
  }
  rank(&scored);
  note_indistinguishable(ctx, &scored);
  std::vector<Hypothesis> out;
  for (Scored& s : scored) out.push_back({ctx.hypotheses[s.index].name, s.score, std::move(s.evidence)});
  return out;
}

std::vector<Hypothesis> diagnose_with_fingerprint(const DiagnosisContext& ctx, const PreparedCase& p,
                                                  std::span<const double> candidate, bool candidate_failed, bool force,
                                                  int threads, nlohmann::json* fingerprint) {
  std::vector<Hypothesis> h = diagnose(ctx, p, candidate);
  if (!force && (!candidate_failed || diagnosis_verdict(h, true).explained())) return h;
  const Fingerprint f = precision_fingerprint(p, candidate, threads);
  std::vector<Hypothesis> found;
  for (const PrecisionMatch* m : f.explaining()) found.push_back({m->name, m->score, m->evidence});
  // Merged by score; on a tie the built-in hypothesis stays first.
  std::vector<Hypothesis> merged;
  std::merge(h.begin(), h.end(), found.begin(), found.end(), std::back_inserter(merged),
             [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
  if (fingerprint && (force || f.match())) *fingerprint = fingerprint_to_json(f);
  return merged;
}

std::vector<Hypothesis> diagnose_case(PreparedCase& p, std::span<const double> candidate, Layout declared, int threads,
                                      nlohmann::json* fingerprint, std::span<const double> lse) {
  const DiagnosisContext ctx = build_diagnosis_context(p, declared, threads);
  std::vector<Hypothesis> h = diagnose_with_fingerprint(ctx, p, candidate, true, false, threads, fingerprint);
  if (!lse.empty()) use_lse(ctx, p, lse, threads, &h);
  return h;
}

std::string DiagnosisVerdict::text(const std::function<std::string(const std::string&)>& quote) const {
  auto q = [&](const std::string& name) { return quote ? quote(name) : name; };
  if (explained() && !finding.empty())
    return fmt::format("most likely: {} — a precision finding, not a bug: the kernel {}", q(explained_by), finding);
  if (explained()) return "most likely: " + q(explained_by);
  std::string out = "no built-in hypothesis explains this";
  for (std::size_t i = 0; i < nearest.size(); ++i) {
    const double s = nearest[i].score;
    out += fmt::format("{}{} (score {})", i ? ", " : "; nearest: ", q(nearest[i].name),
                       s >= 0.001 ? fmt::format("{:.3f}", s) : fmt::format("{:.1e}", s));
  }
  return out;
}

DiagnosisVerdict diagnosis_verdict(const std::vector<Hypothesis>& h, bool candidate_failed) {
  DiagnosisVerdict v;
  for (const Hypothesis& x : h) {
    if (x.score < kExplainsScore) break;  // best first: nothing further explains it either
    if (candidate_failed && x.name == "precision") continue;
    v.explained_by = x.name;
    if (x.name.starts_with("precision:")) v.finding = x.evidence;
    return v;
  }
  for (const Hypothesis& x : h)
    if (x.score > 0 && v.nearest.size() < kNearestShown) v.nearest.push_back(x);
  return v;
}

std::vector<Hypothesis> diagnosis_from_json(const nlohmann::json& diagnosis) {
  std::vector<Hypothesis> h;
  if (!diagnosis.is_object()) return h;
  for (const nlohmann::json& x : diagnosis.value("hypotheses", nlohmann::json::array()))
    if (x.is_object())
      h.push_back({x.value("name", ""), x.contains("score") && x.at("score").is_number() ? x.at("score").get<double>() : 0.0,
                   x.value("evidence", "")});
  return h;
}

DiagnosisVerdict diagnosis_verdict_of_case(const nlohmann::json& report_case) {
  if (!report_case.is_object() || !report_case.contains("diagnosis")) return {};
  const std::string verdict = report_case.value("verdict", "");
  return diagnosis_verdict(diagnosis_from_json(report_case.at("diagnosis")), verdict == "fail" || verdict == "error");
}

nlohmann::json diagnosis_to_json(const std::vector<Hypothesis>& h, bool candidate_failed) {
  nlohmann::json list = nlohmann::json::array();
  for (const Hypothesis& x : h) list.push_back({{"name", x.name}, {"score", x.score}, {"evidence", x.evidence}});
  return {{"verdict", diagnosis_verdict(h, candidate_failed).name()}, {"hypotheses", list}};
}

std::string render_diagnosis(const std::vector<Hypothesis>& h, std::size_t top, const std::string& indent) {
  std::size_t width = 0, shown = 0;
  for (const Hypothesis& x : h)
    if (x.score > 0 && shown++ < top) width = std::max(width, x.name.size());
  std::string out;
  shown = 0;
  for (const Hypothesis& x : h) {
    if (x.score <= 0 || shown >= top) continue;
    ++shown;
    out += fmt::format("{}{}. {:<{}}  {:.3f}  {}\n", indent, shown, x.name, width, x.score, x.evidence);
  }
  if (!shown) out += indent + "no hypothesis applies to this case\n";
  return out;
}

std::string render_report_diagnoses(const std::vector<CaseResult>& cases, std::size_t top) {
  std::string out;
  for (const CaseResult& c : cases) {
    if (c.diagnosis.empty()) continue;
    const DiagnosisVerdict v = diagnosis_verdict(c.diagnosis, c.verdict == Verdict::fail);
    // Below the threshold a ranking would read as a list of causes: only the nearest, as such.
    out += fmt::format("diagnosis of {}:\n{}  {}\n", c.spec.name, v.explained() ? render_diagnosis(c.diagnosis, top) : "",
                       v.text());
  }
  return out;
}

CaseResult run_case_diagnosed(const CaseSpec& c, const Candidate& cand, const RunOptions& opt, bool diagnose_failures,
                              Layout declared) {
  if (std::string why = unsupported_reason(c, cand); !why.empty()) return unsupported_result(c, cand, why);
  PreparedCase p = prepare_case(c, opt.threads);
  if (!diagnose_failures) return judge(p, cand, opt);
  std::vector<double> kept;  // the candidate's output and tensors: judge() only keeps their metrics
  BackwardTensors kept_tensors;
  RunOptions keeping = opt;
  keeping.keep_candidate = &kept;
  keeping.keep_tensors = &kept_tensors;
  CaseResult r = judge(p, cand, keeping);
  diagnose_failure(p, kept, kept_tensors, declared, opt.threads, &r);
  return r;
}

void diagnose_failure(PreparedCase& p, std::span<const double> out, const BackwardTensors& tensors, Layout declared,
                      int threads, CaseResult* r) {
  if (r->verdict != Verdict::fail || out.size() != p.golden.size()) return;
  const auto start = std::chrono::steady_clock::now();
  // The output's failure is the output's diagnosis, refined by the lse when the candidate handed one
  // back; tensors failing alone are explained by the tensors' (src/judge/backward_diagnosis.hpp).
  if (r->output_failed) r->diagnosis = diagnose_case(p, out, declared, threads, &r->fingerprint, tensors.lse);
  else if (p.spec.backward || !tensors.lse.empty()) r->diagnosis = diagnose_tensors(p, out, tensors, threads);
  r->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace attn
