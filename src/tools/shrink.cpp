#include "src/tools/shrink.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "kernels/mutants.hpp"
#include "src/base/interrupt.hpp"
#include "src/judge/diagnosis.hpp"

namespace attn {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -ceil_div(-a, b); }

// Sinks given per head are cut to the new head count (sink n belongs to head n, so the heads that
// stay keep theirs); random sinks are drawn per head index, so they need nothing.
CaseSpec with_heads(CaseSpec c, std::int64_t heads, std::int64_t kv_heads) {
  c.problem.shape.heads = heads;
  c.problem.shape.kv_heads = kv_heads;
  if (c.sinks.kind == SinksSpec::Kind::list && std::int64_t(c.sinks.values.size()) > heads) c.sinks.values.resize(heads);
  return c;
}

// --- The passes. Each proposes smaller cases, smallest first; the predicate decides. ---------

// Every length divided by the same power of two: tokens, keys, offset, window and tile sizes keep
// their proportions, so a bug that needs a partial last tile or a window that cuts a row keeps it
// while the case gets small. Cheap to check, since the first proposals are tiny.
std::vector<CaseSpec> propose_scale(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  const std::int64_t longest = std::max(s.tokens, s.kv_tokens);
  std::vector<CaseSpec> out;
  std::int64_t f = 1;
  while (f < longest) f *= 2;
  for (; f >= 2; f /= 2) {
    auto down = [f](std::int64_t x) { return std::max<std::int64_t>(1, ceil_div(x, f)); };
    CaseSpec p = c;
    Shape& t = p.problem.shape;
    t.tokens = down(s.tokens);
    t.kv_tokens = down(s.kv_tokens);
    // Queries at the end of the keys (the default offset) stay at the end.
    t.q_offset = s.q_offset == s.kv_tokens - s.tokens ? t.kv_tokens - t.tokens
                                                      : std::min(floor_div(s.q_offset, f), t.kv_tokens - t.tokens);
    if (c.problem.window > 0) p.problem.window = down(c.problem.window);
    p.tiles = {down(c.tiles.q), down(c.tiles.kv)};
    out.push_back(std::move(p));
  }
  return out;
}

// Fewer query rows: either the last rows stay (the offset moves up) or the first ones do.
std::vector<CaseSpec> propose_tokens(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<CaseSpec> out;
  for (std::int64_t v : smaller_values(s.tokens, 1)) {
    CaseSpec last = c;
    last.problem.shape.tokens = v;
    last.problem.shape.q_offset = s.q_offset + (s.tokens - v);
    out.push_back(last);
    CaseSpec first = c;
    first.problem.shape.tokens = v;
    out.push_back(first);
  }
  return out;
}

// Fewer keys: dropped from the front (queries keep their distance to the last key) or from the
// end (when no query sits there). Never makes a non-negative offset negative: that would add rows
// with no visible key, a different feature.
std::vector<CaseSpec> propose_kv_tokens(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<CaseSpec> out;
  for (std::int64_t v : smaller_values(s.kv_tokens, 1)) {
    const std::int64_t d = s.kv_tokens - v;
    if (s.q_offset - d >= std::min<std::int64_t>(s.q_offset, 0)) {
      CaseSpec front = c;
      front.problem.shape.kv_tokens = v;
      front.problem.shape.q_offset = s.q_offset - d;
      out.push_back(front);
    }
    if (s.q_offset + s.tokens <= v) {
      CaseSpec end = c;
      end.problem.shape.kv_tokens = v;
      out.push_back(end);
    }
  }
  return out;
}

// The queries' offset towards 0 (from either side), keys unchanged.
std::vector<CaseSpec> propose_q_offset(const CaseSpec& c) {
  const std::int64_t off = c.problem.shape.q_offset;
  std::vector<CaseSpec> out;
  for (std::int64_t v : smaller_values(std::abs(off), 0)) {
    CaseSpec p = c;
    p.problem.shape.q_offset = off < 0 ? -v : v;
    out.push_back(p);
  }
  return out;
}

// Fewer query heads per kv head (q_mult), kv heads unchanged: H stays a multiple of Hkv.
std::vector<CaseSpec> propose_heads(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<CaseSpec> out;
  for (std::int64_t q : smaller_values(s.q_mult(), 1)) out.push_back(with_heads(c, s.kv_heads * q, s.kv_heads));
  return out;
}

// Fewer kv heads, q_mult unchanged.
std::vector<CaseSpec> propose_kv_heads(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<CaseSpec> out;
  for (std::int64_t kv : smaller_values(s.kv_heads, 1)) out.push_back(with_heads(c, kv * s.q_mult(), kv));
  return out;
}

std::vector<CaseSpec> propose_batch(const CaseSpec& c) {
  std::vector<CaseSpec> out;
  for (std::int64_t b : smaller_values(c.problem.shape.batch, 1)) {
    CaseSpec p = c;
    p.problem.shape.batch = b;
    out.push_back(p);
  }
  return out;
}

// A smaller head dim; a default scale (1/sqrt(D)) follows D, a configured one stays.
std::vector<CaseSpec> propose_head_dim(const CaseSpec& c) {
  const std::int64_t D = c.problem.shape.head_dim;
  const bool default_scale = c.problem.scale == 1.0 / std::sqrt(double(D));
  std::vector<CaseSpec> out;
  for (std::int64_t d : smaller_values(D, 1)) {
    CaseSpec p = c;
    p.problem.shape.head_dim = d;
    if (default_scale) p.problem.scale = 1.0 / std::sqrt(double(d));
    out.push_back(p);
  }
  return out;
}

// No window at all, else a narrower one.
std::vector<CaseSpec> propose_window(const CaseSpec& c) {
  const std::int64_t W = c.problem.window;
  std::vector<CaseSpec> out;
  if (W == 0) return out;
  CaseSpec none = c;
  none.problem.window = 0;
  out.push_back(none);
  for (std::int64_t w : smaller_values(W, 1)) {
    CaseSpec p = c;
    p.problem.window = w;
    out.push_back(p);
  }
  return out;
}

// Fewer tiles first (one tile takes tiling out of the picture), then, at the same tile count,
// the smallest tile that gives it (a 2048-key tile over 3 keys becomes a 3-key tile).
std::vector<CaseSpec> propose_tiles(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<CaseSpec> out;
  for (int which = 0; which < 2; ++which) {
    const std::int64_t size = which == 0 ? s.tokens : s.kv_tokens;
    const std::int64_t tile = which == 0 ? c.tiles.q : c.tiles.kv;
    const std::int64_t count = ceil_div(size, tile);
    for (std::int64_t n = 1; n <= count; ++n) {
      const std::int64_t t = ceil_div(size, n);
      if (t == tile) continue;
      CaseSpec p = c;
      (which == 0 ? p.tiles.q : p.tiles.kv) = t;
      out.push_back(p);
    }
  }
  return out;
}

// Sinks off, else one sink logit of 0 for every head.
std::vector<CaseSpec> propose_sinks(const CaseSpec& c) {
  std::vector<CaseSpec> out;
  if (c.sinks.kind == SinksSpec::Kind::none) return out;
  CaseSpec off = c;
  off.sinks = {};
  off.problem.has_sinks = false;
  out.push_back(off);
  if (!(c.sinks.kind == SinksSpec::Kind::constant && c.sinks.values.at(0) == 0.0)) {
    CaseSpec zero = c;
    zero.sinks = {.kind = SinksSpec::Kind::constant, .values = {0.0}};
    out.push_back(zero);
  }
  return out;
}

// Inputs towards simpler: all ones, else small integers (-1..1, then -2..2: scores a person can
// add up), else a standard normal; seed 0.
std::vector<CaseSpec> propose_inputs(const CaseSpec& c) {
  const Distribution& d = c.inputs;
  std::vector<CaseSpec> out;
  if (!(d.dist == "constant" && d.value == 1.0)) {
    CaseSpec ones = c;
    ones.inputs = {.dist = "constant", .value = 1.0};
    out.push_back(ones);
  }
  if (d.dist == "constant") return out;
  for (double r : {1.0, 2.0}) {
    if (d.dist == "integers" && std::max(std::abs(d.low), std::abs(d.high)) <= r) break;
    CaseSpec ints = c;
    ints.inputs = {.dist = "integers", .low = -r, .high = r};
    out.push_back(ints);
  }
  if (d.dist != "integers" && !(d.dist == "normal" && d.mean == 0.0 && d.std == 1.0)) {
    CaseSpec normal = c;
    normal.inputs = Distribution{};
    out.push_back(normal);
  }
  if (c.seed != 0) {
    CaseSpec zero = c;
    zero.seed = 0;
    out.push_back(zero);
  }
  return out;
}

// Work of one predicate run, for the time budget: the score matrix dominates.
double work(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  return double(s.batch) * double(s.heads) * double(s.head_dim) * (double(s.tokens) * double(s.kv_tokens) + double(s.tokens + s.kv_tokens));
}

std::string dist_label(const Distribution& d) {
  if (d.dist == "constant") return fmt::format("constant({:g})", d.value);
  if (d.dist == "uniform") return fmt::format("uniform[{:g},{:g})", d.low, d.high);
  if (d.dist == "integers") return fmt::format("integers[{:g},{:g}]", d.low, d.high);
  if (d.dist == "outliers") return fmt::format("outliers({:g},{:g};{:g}x{:g})", d.mean, d.std, d.fraction, d.magnitude);
  return fmt::format("normal({:g},{:g})", d.mean, d.std);
}

std::string sinks_label(const SinksSpec& s) {
  switch (s.kind) {
    case SinksSpec::Kind::none: return "off";
    case SinksSpec::Kind::constant: return fmt::format("{:g}", s.values.at(0));
    case SinksSpec::Kind::list: return fmt::format("[{} values]", s.values.size());
    case SinksSpec::Kind::random: return dist_label(s.dist);
  }
  return "?";
}

}  // namespace

const char* repro_name(Repro r) {
  switch (r) {
    case Repro::same_failure: return "same failure";
    case Repro::passes: return "passes";
    case Repro::other_failure: return "other failure";
    case Repro::other_diagnosis: return "other top hypothesis";
    case Repro::reference_fails: return "correct kernel fails too";
    case Repro::candidate_error: return "candidate error";
    case Repro::unsupported: return "unsupported";
  }
  return "?";
}

FailureReason failure_reason(const CaseResult& r) {
  FailureReason f;
  if (r.verdict != Verdict::fail) return f;
  for (const GateResult& g : r.gates)
    if (!g.pass) f.failing.push_back(g.name);
  if (r.vs_golden.nan_candidate + r.vs_golden.inf_candidate > 0) f.failing.push_back(kNonFinite);
  if (!f.failing.empty()) f.gate = f.failing.front();
  return f;
}

std::string top_hypothesis(PreparedCase& p, const std::vector<double>& output, int threads) {
  if (output.size() != p.golden.size()) return "";
  // The hypothesis that explains the failure (src/judge/diagnosis.hpp), or none: a nearest one is no cause.
  return diagnosis_verdict(diagnose_case(p, output, Layout::bshd, threads), true).explained_by;
}

bool reference_passes(PreparedCase& p, int threads) {
  const Metrics& t = p.tiled_vs_golden(threads);
  if (t.nan_candidate + t.inf_candidate > 0) return false;
  const std::vector<GateResult> gates =
      evaluate_gates(p.spec.gates, {.vs_golden = t,
                                    .naive_vs_golden = p.naive_vs_golden,
                                    .expected_vs_golden = nullptr,
                                    .golden_max_abs_value = p.golden_max_abs_value,
                                    .output = p.spec.recipe.output,
                                    .probs_rounding = p.probs_rounding,
                                    .default_tolerance = p.spec.tolerance.atol == default_tolerance(p.spec.recipe).atol &&
                                                         p.spec.tolerance.rtol == default_tolerance(p.spec.recipe).rtol});
  return std::all_of(gates.begin(), gates.end(), [](const GateResult& g) { return g.pass; });
}

Predicate::Predicate(Candidate cand, FailureReason reason, int threads, bool reference_guard, bool diagnose)
    : cand_(std::move(cand)), reason_(std::move(reason)), threads_(threads), reference_guard_(reference_guard),
      diagnose_(diagnose || !reason_.hypothesis.empty()) {}

Repro Predicate::operator()(const CaseSpec& c, std::string* note, std::string* top) const {
  if (!unsupported_reason(c, cand_).empty()) return Repro::unsupported;
  try {
    PreparedCase p = prepare_case(c, threads_);
    std::vector<double> output;  // the candidate's output, for the diagnosis
    const CaseResult r = judge(p, cand_, {.threads = threads_, .worst = 0, .breakdown = false,
                                          .keep_candidate = diagnose_ ? &output : nullptr});
    if (r.verdict == Verdict::error) {
      if (note) *note = r.error;
      return Repro::candidate_error;
    }
    if (r.verdict != Verdict::fail) return Repro::passes;
    if (!contains(failure_reason(r).failing, reason_.gate)) return Repro::other_failure;
    if (reference_guard_ && !reference_passes(p, threads_)) return Repro::reference_fails;
    if (diagnose_) {  // last: it runs every mutant, so only on a case that reproduces otherwise
      const std::string h = top_hypothesis(p, output, threads_);
      if (top) *top = h;
      if (!reason_.hypothesis.empty() && h != reason_.hypothesis) return Repro::other_diagnosis;
    }
    return Repro::same_failure;
  } catch (const Interrupted&) {  // Ctrl-C: the whole reduction stops (src/base/interrupt.hpp)
    throw;
  } catch (const std::exception& e) {  // a crashing candidate is a run that did not reproduce
    if (note) *note = e.what();
    return Repro::candidate_error;
  } catch (...) {
    if (note) *note = "unknown exception";
    return Repro::candidate_error;
  }
}

std::vector<std::int64_t> smaller_values(std::int64_t n, std::int64_t lo) {
  std::set<std::int64_t> v;
  if (n <= lo) return {};
  v.insert(lo);
  for (std::int64_t h = n / 2; h > lo; h /= 2) v.insert(h);
  for (std::int64_t d = (n - lo) / 2; d > 0; d /= 2) v.insert(n - d);
  v.insert(n - 1);
  return {v.begin(), v.end()};
}

const std::vector<ShrinkPass>& shrink_passes() {
  // Order: the passes that make a case cheap to run come first (the first runs happen at full
  // size), and `scale` before the single dimensions so tile edges survive the big steps. The driver
  // goes back to the top after any progress, so a later pass sees a case the earlier ones cannot
  // shrink any more: the distribution of the inputs is simplified last.
  static const std::vector<ShrinkPass> table = {
      {"scale", "every length (tokens, keys, offset, window, tiles) divided by the same power of two", propose_scale},
      {"tokens", "fewer query rows, keeping the last or the first ones", propose_tokens},
      {"kv_tokens", "fewer keys, dropped from the front or the end", propose_kv_tokens},
      {"q_offset", "the query offset towards 0", propose_q_offset},
      {"heads", "fewer query heads per kv head (q_mult)", propose_heads},
      {"kv_heads", "fewer kv heads, same q_mult", propose_kv_heads},
      {"batch", "a smaller batch", propose_batch},
      {"head_dim", "a smaller head dim (a default scale follows it)", propose_head_dim},
      {"window", "no sliding window, else a narrower one", propose_window},
      {"tiles", "fewer tiles, then the smallest tile size with that many tiles", propose_tiles},
      {"sinks", "sinks off, else a sink logit of 0", propose_sinks},
      {"inputs", "inputs all ones, else standard normal; seed 0", propose_inputs},
  };
  return table;
}

bool revalidate(const CaseSpec& c, CaseSpec* out, std::string* why) {
  Suite suite;
  Diagnostics diags;
  const LoadOptions opt{.max_memory = std::numeric_limits<std::uint64_t>::max()};
  if (!parse_suite(nlohmann::json{{"cases", {c.to_json()}}}, "<shrink>", opt, &suite, &diags)) {
    if (why) *why = diags.empty() ? "invalid" : diags.front().message;
    return false;
  }
  *out = std::move(suite.cases.front());
  return true;
}

nlohmann::ordered_json compact_case_json(const CaseSpec& c) {
  using nlohmann::json;
  const std::string want = c.to_json().dump();
  auto same = [&](const json& j) {
    Suite suite;
    Diagnostics diags;
    const LoadOptions opt{.max_memory = std::numeric_limits<std::uint64_t>::max()};
    return parse_suite(json{{"cases", {j}}}, "<shrink>", opt, &suite, &diags) &&
           suite.cases.front().to_json().dump() == want;
  };
  json j = c.to_json();
  // Drop every key the loader would give the same value to, then every such key inside objects.
  for (const std::string& key : case_keys()) {
    if (key == "name" || !j.contains(key)) continue;
    json t = j;
    t.erase(key);
    if (same(t)) j = std::move(t);
  }
  const json top = j;
  for (const auto& [key, value] : top.items()) {
    if (!value.is_object()) continue;
    for (const auto& [sub, _] : value.items()) {
      // A distribution keeps its name, and a constant its value: `{}` or `{"dist": "constant"}` read as nothing.
      if (sub == "dist" || (sub == "value" && value.value("dist", "") == "constant")) continue;
      json t = j;
      t[key].erase(sub);
      if (same(t)) j = std::move(t);
    }
  }
  // In the order a person writes a case: SPEC's key order, and within objects their own order.
  static const std::map<std::string, std::vector<std::string>> inner = {
      {"tiles", {"q", "kv"}},
      {"inputs", {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"}},
      {"sinks", {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"}},
      {"tolerance", {"atol", "rtol", "bands"}}};
  nlohmann::ordered_json out;
  for (const std::string& key : case_keys()) {
    if (!j.contains(key)) continue;
    const json& v = j.at(key);
    auto it = inner.find(key);
    if (!v.is_object() || it == inner.end()) {
      out[key] = v;
      continue;
    }
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const std::string& sub : it->second)
      if (v.contains(sub)) o[sub] = v.at(sub);
    out[key] = o;
  }
  return out;
}

std::string describe_change(const CaseSpec& from, const CaseSpec& to) {
  const Shape &a = from.problem.shape, &b = to.problem.shape;
  std::vector<std::string> parts;
  auto num = [&](const char* name, std::int64_t x, std::int64_t y) {
    if (x != y) parts.push_back(fmt::format("{} {}→{}", name, x, y));
  };
  num("batch", a.batch, b.batch);
  num("tokens", a.tokens, b.tokens);
  num("kv_tokens", a.kv_tokens, b.kv_tokens);
  num("q_offset", a.q_offset, b.q_offset);
  num("heads", a.heads, b.heads);
  num("kv_heads", a.kv_heads, b.kv_heads);
  num("head_dim", a.head_dim, b.head_dim);
  num("window", from.problem.window, to.problem.window);
  if (from.problem.causal != to.problem.causal) parts.push_back(fmt::format("causal {}→{}", from.problem.causal, to.problem.causal));
  if (from.problem.scale != to.problem.scale && a.head_dim == b.head_dim)
    parts.push_back(fmt::format("scale {:g}→{:g}", from.problem.scale, to.problem.scale));
  if (from.tiles.q != to.tiles.q || from.tiles.kv != to.tiles.kv)
    parts.push_back(fmt::format("tiles {}x{}→{}x{}", from.tiles.q, from.tiles.kv, to.tiles.q, to.tiles.kv));
  if (sinks_label(from.sinks) != sinks_label(to.sinks) || from.sinks.values != to.sinks.values)
    parts.push_back(fmt::format("sinks {}→{}", sinks_label(from.sinks), sinks_label(to.sinks)));
  if (dist_label(from.inputs) != dist_label(to.inputs))
    parts.push_back(fmt::format("inputs {}→{}", dist_label(from.inputs), dist_label(to.inputs)));
  num("seed", std::int64_t(from.seed), std::int64_t(to.seed));
  return parts.empty() ? "no change" : fmt::format("{}", fmt::join(parts, ", "));
}

ShrinkResult shrink_case(const CaseSpec& c, const Candidate& cand, const ShrinkOptions& opt) {
  ShrinkResult res;
  res.minimal = c;
  const auto t0 = Clock::now();
  if (std::string why = unsupported_reason(c, cand); !why.empty()) {
    res.status = ShrinkResult::Status::unsupported;
    res.message = why;
    return res;
  }
  bool pin_hypothesis = false;  // the original is too big to diagnose: pin the first step's hypothesis
  // The original, run once (golden, naive, the correct kernel and the candidate at full size, each
  // once): its first failing gate, and its top hypothesis, are what every smaller case must keep.
  try {
    PreparedCase p = prepare_case(c, opt.threads);
    const auto tiled_start = Clock::now();
    p.tiled_vs_golden(opt.threads);  // judge() and the reference check share it
    const double tiled_seconds = since(tiled_start);
    std::vector<double> output;  // the candidate's output, for the diagnosis
    res.original = judge(p, cand, {.threads = opt.threads, .breakdown = false,
                                   .keep_candidate = opt.same_diagnosis ? &output : nullptr});
    if (res.original.verdict == Verdict::fail) {
      res.reference_guard = opt.reference_guard && reference_passes(p, opt.threads);
      res.reason = failure_reason(res.original);
      // Diagnosis runs every mutant (a tiled kernel run and its metrics each, as the correct kernel's
      // run just took) and judges every mutant and layout prediction; an external candidate's own
      // start-up time does not come into it.
      const double estimate = tiled_seconds * double(mutants().size() + 5);
      if (!opt.same_diagnosis) {
        res.diagnosis_note = "diagnosis is off: smaller cases keep only the failing gate";
      } else if (estimate > opt.max_diagnose_seconds) {
        pin_hypothesis = true;
        res.diagnosis_note = fmt::format("the original is too big to diagnose in {:g} s (about {:.0f} s: every mutant "
                                         "runs on it), so the top hypothesis is taken from the first smaller case that "
                                         "fails the same gate",
                                         opt.max_diagnose_seconds, estimate);
      } else {
        const auto diagnosing = Clock::now();
        res.reason.hypothesis = top_hypothesis(p, output, opt.threads);
        res.diagnose_seconds = since(diagnosing);
        if (res.reason.hypothesis.empty()) res.diagnosis_note = "no diagnose hypothesis explains the original's output";
        else res.hypothesis_from = "original";
      }
    }
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    res.original = {.spec = c, .kernel = cand.kernel, .verdict = Verdict::error, .error = e.what()};
  }
  res.verify_seconds = since(t0);
  if (res.original.verdict == Verdict::error) {
    res.status = ShrinkResult::Status::candidate_error;
    res.message = res.original.error;
    return res;
  }
  if (res.original.verdict != Verdict::fail) {
    res.status = ShrinkResult::Status::not_failing;
    res.message = "the candidate passes the case: nothing to shrink";
    return res;
  }
  res.status = ShrinkResult::Status::shrunk;
  Predicate still_fails(cand, res.reason, opt.threads, res.reference_guard, pin_hypothesis);
  if (opt.on_verified) opt.on_verified(res);

  // Seconds per unit of work, from the verification run (without diagnosing it: a proposal is
  // diagnosed only once it reproduces), to skip proposals the time left cannot pay for.
  const double seconds_per_work = (res.verify_seconds - res.diagnose_seconds) / std::max(work(c), 1.0);
  std::set<std::string> seen = {c.to_json().dump()};
  CaseSpec current = c;
  const auto start = Clock::now();
  auto out_of_budget = [&] {
    if (res.runs >= opt.max_runs) res.stopped = "max-runs";
    else if (since(start) >= opt.max_seconds) res.stopped = "max-seconds";
    return !res.stopped.empty();
  };

  bool progress = true;
  while (progress && !out_of_budget()) {
    progress = false;
    for (const ShrinkPass& pass : shrink_passes()) {
      bool accepted = true;
      while (accepted && !out_of_budget()) {  // each pass runs to its own fixpoint
        accepted = false;
        for (const CaseSpec& raw : pass.propose(current)) {
          if (out_of_budget()) break;
          CaseSpec proposal;
          if (!revalidate(raw, &proposal)) continue;
          if (!seen.insert(proposal.to_json().dump()).second) continue;
          if (seconds_per_work * work(proposal) > opt.max_seconds - since(start)) {
            ++res.over_budget;
            continue;
          }
          if (opt.on_progress) opt.on_progress({pass.name, &proposal, res.runs, since(start)});
          std::string note, top;
          const Repro r = still_fails(proposal, &note, &top);
          ++res.runs;
          ++res.outcomes[r];
          if (r == Repro::candidate_error && res.candidate_errors.size() < ShrinkResult::kMaxErrorRecords)
            res.candidate_errors.push_back({pass.name, proposal, note});
          if (r != Repro::same_failure) continue;
          if (pin_hypothesis && !top.empty()) {
            pin_hypothesis = false;
            res.reason.hypothesis = top;
            res.hypothesis_from = fmt::format("step {}", res.steps.size() + 1);
            still_fails = Predicate(cand, res.reason, opt.threads, res.reference_guard);
          }
          ShrinkStep step{.pass = pass.name, .change = describe_change(current, proposal), .result = proposal,
                          .runs = res.runs, .seconds = since(start)};
          current = std::move(proposal);
          if (opt.on_step) opt.on_step(step);
          res.steps.push_back(std::move(step));
          accepted = progress = true;
          break;
        }
      }
      // Back to the first pass after any progress: a pass runs only once every pass before it is
      // at its fixpoint, so the inputs are simplified on the smallest shape, not before the shape
      // shrinks (small integers put zeros in places that would hide the bug from a smaller shape).
      if (!res.stopped.empty() || progress) break;
    }
  }
  if (res.stopped.empty()) res.stopped = "fixpoint";
  res.minimal = current;
  res.shrink_seconds = since(start);
  return res;
}

}  // namespace attn
