#include "src/judge/fingerprint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string_view>

#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/judge/metrics.hpp"
#include "src/suite/inputs.hpp"

namespace attn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A candidate carries its own rounding, from its own order of operations: up to this many times the
// prediction's own (a kernel that rescales per key rounds more often than one that rescales per tile).
constexpr double kOwnNoise = 3.0;
// A deterministic change is followed when the output's deviation contains its shift with a coefficient
// within this of 1 (or 3 standard errors), measured to at least this standard error.
constexpr double kShiftTolerance = 0.2;
constexpr double kMaxShiftError = 0.25;
// Rows whose deviation-to-own-noise ratio is this far off the median are outliers; a rounding noise
// leaves at most this fraction of them (a row of 64 values scatters its energy by about 20 %).
constexpr double kRowSpread = 5.0;
constexpr double kRowOutliers = 0.05;
constexpr std::int64_t kSpreadKeys = 32;
constexpr std::size_t kSpreadRows = 8;
// A recipe whose own rounding leaves less of the output than this (NMSE) explains nothing: with sinks
// of +30, P in e4m3 flushes every probability to 0.
constexpr double kMaxOwnNoise = 0.01;
// Rounding noise is chaotic: which way each update of a narrow accumulator rounds depends on every
// bit before it. A candidate within this fraction of a recipe's own rounding noise of that recipe
// run in the same order of operations makes the same roundings from the same values, which a kernel
// that stores its inputs in other formats cannot: it is that recipe, inputs included, even where
// the inputs' shift is too small to see under the noise (fp16 K/V on 8192 keys).
constexpr double kReproduced = 8e-3;
// The orders tried: the tiled kernel's, and ggml's one key at a time (the per_key variant), the
// latter on the slice's last this many query tokens (a scalar loop).
constexpr std::int64_t kOrderQueries = 8;

// The case cut down to some KV-head groups: every head's output depends only on its own group.
struct Slice {
  Problem problem;
  Inputs inputs;  // in the declared recipe, as the candidate read them
  std::vector<double> golden, candidate;
  double reference_sq = 0.0;
  double golden_max = 0.0;
};

// Elements [b][s][h][d] of x (heads H) for the heads in `keep` and the tokens from s0 on, in order.
template <class T>
std::vector<T> gather(std::span<const T> x, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t D,
                      const std::vector<std::int64_t>& keep, std::int64_t s0 = 0) {
  std::vector<T> out;
  out.reserve(B * (S - s0) * keep.size() * D);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = s0; s < S; ++s)
      for (std::int64_t h : keep) {
        const T* row = &x[bshd(b, s, h, 0, S, H, D)];
        out.insert(out.end(), row, row + D);
      }
  return out;
}

// The part of the case a fingerprint runs on: the KV-head groups (all, or the first and the last of a
// case with more than `max_kv_heads`), their query heads, and the last `max_queries` query tokens.
// Each output row depends only on its own head's group and its own keys, and the tiled kernel's KV
// tiles start at key 0 whichever rows run, so the part's rows are bit for bit the whole case's.
struct HeadSubset {
  std::vector<std::int64_t> groups, heads;
  std::int64_t q0 = 0;  // the first query token kept
  bool all = true;
};

HeadSubset head_subset(const Shape& s, const FingerprintOptions& opt) {
  HeadSubset hs;
  for (std::int64_t g = 0; g < s.kv_heads; ++g)
    if (s.kv_heads <= opt.max_kv_heads || g == 0 || g == s.kv_heads - 1) hs.groups.push_back(g);
  for (std::int64_t g : hs.groups)
    for (std::int64_t h = g * s.q_mult(); h < (g + 1) * s.q_mult(); ++h) hs.heads.push_back(h);
  hs.q0 = std::max<std::int64_t>(0, s.tokens - opt.max_queries);
  hs.all = std::int64_t(hs.groups.size()) == s.kv_heads && hs.q0 == 0;
  return hs;
}

Inputs slice_inputs(const Shape& s, const Inputs& in, const HeadSubset& hs) {
  if (hs.all) return in;
  Inputs out = in;
  const std::int64_t D = s.head_dim;
  out.q = gather(std::span<const float>(in.q), s.batch, s.tokens, s.heads, D, hs.heads, hs.q0);
  out.k = gather(std::span<const float>(in.k), s.batch, s.kv_tokens, s.kv_heads, D, hs.groups);
  out.v = gather(std::span<const float>(in.v), s.batch, s.kv_tokens, s.kv_heads, D, hs.groups);
  if (!in.sinks.empty()) out.sinks = gather(std::span<const float>(in.sinks), 1, 1, s.heads, 1, hs.heads);
  out.k_head_scales.clear(), out.v_head_scales.clear();  // the kernel reads dequantised values
  return out;
}

std::vector<double> slice_output(const Shape& s, std::span<const double> x, const HeadSubset& hs) {
  if (hs.all) return {x.begin(), x.end()};
  return gather(x, s.batch, s.tokens, s.heads, s.head_dim, hs.heads, hs.q0);
}

Slice make_slice(const Problem& problem, const Inputs& inputs, std::span<const double> golden,
                 std::span<const double> candidate, const HeadSubset& hs) {
  const Shape& s = problem.shape;
  Slice sl{.problem = problem, .inputs = slice_inputs(s, inputs, hs), .golden = slice_output(s, golden, hs),
           .candidate = slice_output(s, candidate, hs)};
  sl.problem.shape.heads = std::int64_t(hs.heads.size());
  sl.problem.shape.kv_heads = std::int64_t(hs.groups.size());
  sl.problem.shape.tokens = s.tokens - hs.q0;
  sl.problem.shape.q_offset = s.q_offset + hs.q0;
  for (double g : sl.golden)
    if (std::isfinite(g)) sl.reference_sq += g * g, sl.golden_max = std::max(sl.golden_max, std::abs(g));
  if (sl.reference_sq == 0) sl.reference_sq = double(sl.golden.size());
  return sl;
}

// The recipe with fp32 at every point inside the kernel: its inputs' formats only.
Recipe wide_internals(Recipe r) {
  r.scores = r.probs = r.acc_pv = r.acc_rowsum = r.output = DType::f32;
  return r;
}

// What W (wide_internals) depends on: the inputs' formats and scheme, exp2 and the mask.
std::string inputs_key(const Recipe& r) {
  return fmt::format("{}/{}/{}/{}/{}/{}/{}", int(r.q), int(r.k), int(r.v), int(r.sinks), int(r.kv_scale), r.exp2,
                     r.mask_value);
}

// The formats one step narrower than t for an input tensor.
std::vector<DType> narrower(DType t) {
  switch (t) {
    case DType::f32: return {DType::bf16, DType::f16};
    case DType::bf16:
    case DType::f16: return {DType::e4m3, DType::e5m2};
    default: return {};
  }
}

// The recipes one change away from r.
std::vector<Recipe> neighbours(const Recipe& r, const Problem& p) {
  std::vector<Recipe> out;
  auto add = [&](Recipe x) {
    if (!check_recipe(x).empty()) return;
    finish_recipe(x);
    out.push_back(std::move(x));
  };
  for (DType t : narrower(r.q)) add([&] { Recipe x = r; x.q = t; return x; }());
  const std::vector<DType> q_steps = narrower(r.q);
  if (r.q != r.k && !scaled_dtype(r.k) && unit_roundoff(r.k) > unit_roundoff(r.q) &&  // Q converted to K's type
      std::ranges::find(q_steps, r.k) == q_steps.end())
    add([&] { Recipe x = r; x.q = r.k; return x; }());
  if (r.k == r.v)
    for (DType t : narrower(r.k)) add([&] { Recipe x = r; x.k = x.v = t; return x; }());
  if (r.q == r.k && r.k == r.v)  // Q, K and V stored alike (Q converted to the KV cache's type)
    for (DType t : narrower(r.q)) add([&] { Recipe x = r; x.q = x.k = x.v = t; return x; }());
  for (DType t : narrower(r.k)) add([&] { Recipe x = r; x.k = t; return x; }());
  for (DType t : narrower(r.v)) add([&] { Recipe x = r; x.v = t; return x; }());
  if (p.has_sinks)
    for (DType t : narrower(r.sinks)) add([&] { Recipe x = r; x.sinks = t; return x; }());
  // P one step coarser: fp32 to fp16 or bf16, a 16-bit P to e4m3 (the jump fp32 to e4m3 adds so much
  // noise that it would "explain" diffuse bugs).
  const std::vector<DType> p_steps = r.probs == DType::f32 ? std::vector<DType>{DType::f16, DType::bf16}
                                     : r.probs == DType::f16 || r.probs == DType::bf16 ? std::vector<DType>{DType::e4m3}
                                                                                          : std::vector<DType>{};
  for (DType t : p_steps) add([&] { Recipe x = r; x.probs = t; return x; }());
  if (r.acc_pv == DType::f32)
    for (DType t : {DType::f16, DType::bf16}) add([&] { Recipe x = r; x.acc_pv = t; return x; }());
  if (r.acc_rowsum == DType::f32)
    for (DType t : {DType::f16, DType::bf16}) add([&] { Recipe x = r; x.acc_rowsum = t; return x; }());
  add([&] { Recipe x = r; x.exp2 = !x.exp2; return x; }());
  if (p.empty_rows() > 0 || !std::isinf(r.mask_value))  // a finite mask shows only where a row sees no key
    add([&] { Recipe x = r; x.mask_value = std::isinf(r.mask_value) ? -1e30f : -std::numeric_limits<float>::infinity(); return x; }());
  if (scaled_dtype(r.k) || scaled_dtype(r.v))
    add([&] {
      Recipe x = r;
      x.kv_scale = r.kv_scale == ScaleScheme::per_head ? ScaleScheme::per_tensor : ScaleScheme::per_head;
      return x;
    }());
  return out;
}

// Changes inside the kernel (scores, P, the accumulators, exp2) only add rounding noise in an order
// the candidate need not share, so they are weak evidence: a recipe combines at most one of them.
int internal_changes(const Recipe& a, const Recipe& b) {
  return (a.scores != b.scores) + (a.probs != b.probs) + (a.acc_pv != b.acc_pv) + (a.acc_rowsum != b.acc_rowsum) +
         (a.exp2 != b.exp2);
}

// How many of the recipe's points differ between a and b.
int recipe_changes(const Recipe& a, const Recipe& b) {
  return (a.q != b.q) + (a.k != b.k) + (a.v != b.v) + (a.sinks != b.sinks) + (a.kv_scale != b.kv_scale) +
         (a.mask_value != b.mask_value) + (a.output != b.output) + internal_changes(a, b);
}

class Search {
 public:
  Search(const PreparedCase& p, std::span<const double> candidate, int threads, const FingerprintOptions& opt)
      : p_(p), threads_(threads), opt_(opt), heads_(head_subset(p.spec.problem.shape, opt)) {
    slice_ = make_slice(p.spec.problem, p.inputs, p.golden, candidate, heads_);
    const Shape& sliced = slice_.problem.shape;
    order_heads_ = head_subset(sliced, {.max_kv_heads = int(sliced.kv_heads), .max_queries = kOrderQueries});
    const Shape& s = p.spec.problem.shape;
    if (heads_.all) scope_ = "the whole case";
    else if (std::int64_t(heads_.groups.size()) == s.kv_heads) scope_ = "all heads";
    else scope_ = fmt::format("KV heads {} and {} of {} and their query heads", heads_.groups.front(), heads_.groups.back(),
                              s.kv_heads);
    if (heads_.q0 > 0) scope_ += fmt::format(", the last {} of {} query tokens", s.tokens - heads_.q0, s.tokens);
    // The fp32 floor: the declared inputs through fp32 internals, against golden on the same inputs.
    const std::vector<float>& w = wide(p.spec.recipe);
    const auto [sq, worst] = diff_sq_and_max(std::span<const float>(w), std::span<const double>(slice_.golden));
    floor_nmse_ = std::max(sq / slice_.reference_sq, 1e-300);
    floor_max_ = worst;
  }

  Fingerprint run() {
    Fingerprint f{.declared = recipe_spec(p_.spec.recipe), .scope = scope_};
    Recipe current = p_.spec.recipe;
    // The declared recipe itself, with the same yardstick: when it explains the output no narrower
    // recipe is needed (a correct kernel in the case's recipe, another order of its sums).
    const PrecisionMatch root = evaluate(current, current);
    if (root.score >= kExplainsScore) {
      f.declared_explains = true;
      f.kernel_runs = runs_, f.per_key_runs = order_runs_;
      return f;
    }
    for (int round = 0; round < opt_.max_rounds; ++round) {
      for (const Recipe& n : neighbours(current, slice_.problem)) {
        if (runs_ + 2 > opt_.max_kernel_runs) break;  // an evaluation takes up to two tiled runs
        const std::string spec = recipe_spec(n);
        if (spec == f.declared || tried_.count(spec) || internal_changes(p_.spec.recipe, n) > 1) continue;
        tried_.emplace(spec, evaluate(n, current));
      }
      const PrecisionMatch* best = best_match();
      if (!best || recipe_spec(best->recipe) == recipe_spec(current) || runs_ >= opt_.max_kernel_runs) break;
      current = best->recipe;
    }
    for (auto& [spec, m] : tried_) f.tried.push_back(std::move(m));
    order(f.tried);
    f.kernel_runs = runs_, f.per_key_runs = order_runs_;
    return f;
  }

 private:
  // Explaining recipes first; among them those reproduced error for error, the clearly closer (half
  // the distance) or else the fewer changes first; then the least rounding (own noise plus distance);
  // then by score.
  bool better(const PrecisionMatch& a, const PrecisionMatch& b) const {
    const bool ea = a.score >= kExplainsScore, eb = b.score >= kExplainsScore;
    if (ea != eb) return ea;
    if (ea && a.reproduced != b.reproduced) return a.reproduced;
    if (ea && a.reproduced) {
      if (std::max(a.nmse, b.nmse) > 2.0 * std::min(a.nmse, b.nmse)) return a.nmse < b.nmse;
      const int ca = recipe_changes(p_.spec.recipe, a.recipe), cb = recipe_changes(p_.spec.recipe, b.recipe);
      if (ca != cb) return ca < cb;
    }
    if (ea && a.nmse + a.noise_nmse != b.nmse + b.noise_nmse) return a.nmse + a.noise_nmse < b.nmse + b.noise_nmse;
    if (a.score != b.score) return a.score > b.score;
    return a.name < b.name;
  }
  void order(std::vector<PrecisionMatch>& v) const {
    std::stable_sort(v.begin(), v.end(), [this](const PrecisionMatch& a, const PrecisionMatch& b) { return better(a, b); });
    // Scores follow the order, so a ranking by score (diagnose's) keeps the least rounding first.
    std::vector<double> scores;
    for (const PrecisionMatch& m : v) scores.push_back(m.score);
    std::sort(scores.begin(), scores.end(), std::greater<>());
    for (std::size_t i = 0; i < v.size(); ++i) v[i].score = scores[i];
  }
  const PrecisionMatch* best_match() const {
    const PrecisionMatch* best = nullptr;
    for (const auto& [spec, m] : tried_)
      if (!best || better(m, *best)) best = &m;
    return best;
  }

  // The slice's inputs stored again in r's formats, from the full tensors (a per-tensor scale is
  // the whole tensor's); once per set of formats.
  const Inputs& inputs_for(const Recipe& r) {
    const std::string key = inputs_key(wide_internals(r));
    if (key == inputs_key(wide_internals(p_.spec.recipe))) return slice_.inputs;
    auto it = inputs_.find(key);
    if (it == inputs_.end()) {
      Inputs full = p_.inputs;
      quantize_inputs(r, p_.spec.problem.shape, full, threads_);
      it = inputs_.emplace(key, slice_inputs(p_.spec.problem.shape, full, heads_)).first;
    }
    return it->second;
  }

  std::vector<float> tiled(const Recipe& r, const Inputs& in) {
    ++runs_;
    std::vector<float> out(slice_.golden.size());
    tiled_attention(slice_.problem, in, {.recipe = r, .tiles = p_.spec.tiles, .threads = threads_}, out);
    return out;
  }
  const std::vector<float>& wide(const Recipe& r) {
    const Recipe w = wide_internals(r);
    const std::string key = inputs_key(w);
    auto it = wide_.find(key);
    if (it == wide_.end()) it = wide_.emplace(key, tiled(w, inputs_for(r))).first;
    return it->second;
  }

  // How well the candidate's deviation from `parent` (through fp32 internals) follows the
  // deterministic shift `r` makes there (its input formats, mask or scales): the least-squares
  // coefficient alpha of the shift in the deviation, 1 when the candidate stores its inputs as r
  // does, and its standard error from the residual. "" when it follows, else why not.
  std::string follows_shift(const Recipe& r, const Recipe& parent, const std::span<const double> c) {
    const std::vector<float>& w_parent = wide(parent);  // std::map: references stay valid
    const std::vector<float>& w = wide(r);
    double dd = 0, de = 0;
    for (std::size_t n = 0; n < c.size(); ++n) {
      const double shift = double(w[n]) - w_parent[n], dev = c[n] - w_parent[n];
      if (std::isfinite(shift) && std::isfinite(dev)) dd += shift * shift, de += shift * dev;
    }
    if (dd == 0) return "it changes no output element here";
    const double alpha = de / dd;
    double res = 0;
    for (std::size_t n = 0; n < c.size(); ++n) {
      const double x = c[n] - w_parent[n] - alpha * (double(w[n]) - w_parent[n]);
      if (std::isfinite(x)) res += x * x;
    }
    const double se = std::sqrt(res / double(c.size()) / dd);
    if (se > kMaxShiftError)
      return fmt::format("the output's other deviations hide whether it shifts the way {} does (the shift's coefficient "
                         "in the output's deviation is {:.2f} +- {:.2f}: too uncertain to tell on this case)",
                         describe_recipe_change(parent, r), alpha, se);
    if (std::abs(alpha - 1.0) > std::max(kShiftTolerance, 3.0 * se))
      return fmt::format("the output does not shift the way {} does (the shift's coefficient in the output's deviation is "
                         "{:.2f} +- {:.2f}, not 1)",
                         describe_recipe_change(parent, r), alpha, se);
    return "";
  }

  // Whether the candidate's deviation from r's inputs through fp32 internals looks like r's own
  // rounding noise, row by row: of the same size (within the kOwnNoise band) and spread like it (a
  // rounding adds noise to every row in proportion to what it rounds; a bug sits in some rows or
  // scales them by amounts that vary far more). "" when it does, else why not.
  std::string noise_like(const Recipe& r, const std::vector<float>& t, const std::span<const double> c) {
    const std::vector<float>& w = wide(r);
    const std::int64_t D = slice_.problem.shape.head_dim, rows = std::int64_t(c.size()) / D;
    std::vector<double> ratio;
    double own_total = 0;
    std::vector<double> own(rows, 0.0), dev(rows, 0.0);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t d = 0; d < D; ++d) {
        const std::size_t n = i * D + d;
        const double o = double(t[n]) - w[n], e = c[n] - w[n];
        if (std::isfinite(o) && std::isfinite(e)) own[i] += o * o, dev[i] += e * e;
      }
    for (double o : own) own_total += o;
    if (own_total == 0) return "it rounds nothing here";
    // Rows that see few keys take few roundings, so their noise energy scatters too much to compare
    // row by row: the spread is judged on rows with at least kSpreadKeys visible keys.
    const Shape& s = slice_.problem.shape;
    std::vector<double> many;  // the ratios of rows with many keys
    for (std::int64_t i = 0; i < rows; ++i) {
      if (!(own[i] > 1e-3 * own_total / double(rows))) continue;
      ratio.push_back(dev[i] / own[i]);
      const Problem::KeyRange k = slice_.problem.visible_keys((i / s.heads) % s.tokens);
      if (k.hi - k.lo >= kSpreadKeys) many.push_back(ratio.back());
    }
    std::sort(ratio.begin(), ratio.end());
    const double median = ratio[ratio.size() / 2];
    if (median < 1.0 / kOwnNoise || median > 1.0 + kOwnNoise)
      return fmt::format("the output's deviation from fp32 internals is {:.2g}x this recipe's own rounding per row "
                         "(median), not about 1x",
                         median);
    std::sort(many.begin(), many.end());
    if (many.size() < kSpreadRows)
      return fmt::format("the case has {} rows with {} or more visible keys, too few to tell rounding noise from a bug "
                         "(at least {} are needed)",
                         many.size(), kSpreadKeys, kSpreadRows);
    const double m2 = many[many.size() / 2];
    const auto outliers =
        std::count_if(many.begin(), many.end(), [&](double x) { return x < m2 / kRowSpread || x > m2 * kRowSpread; });
    if (double(outliers) > kRowOutliers * double(many.size()))
      return fmt::format("the output's deviation is spread over the rows unlike this recipe's rounding ({} of {} rows "
                         "more than {}x off the median ratio)",
                         outliers, many.size(), kRowSpread);
    return "";
  }

  // The slice's last kOrderQueries query tokens, where the per_key order runs.
  const Slice& order_slice() {
    if (!order_) order_ = make_slice(slice_.problem, slice_.inputs, slice_.golden, slice_.candidate, order_heads_);
    return *order_;
  }
  std::vector<float> per_key(const Recipe& r) {
    const Slice& o = order_slice();
    ++order_runs_;
    std::vector<float> out(o.golden.size());
    find_variant("per_key")->run(o.problem, slice_inputs(slice_.problem.shape, inputs_for(r), order_heads_), r,
                                 p_.spec.tiles, out, threads_);
    return out;
  }
  struct OrderMatch {
    double nmse = 0.0, noise_nmse = 0.0, max_abs = 0.0, own_max = 0.0;
  };
  // The candidate against r run in ggml's order of roundings, on the order slice: the distance and
  // r's own rounding there (against the same order with fp32 internals).
  OrderMatch per_key_match(const Recipe& r) {
    const std::vector<float> t = per_key(r);
    const std::string key = inputs_key(wide_internals(r));
    auto it = order_wide_.find(key);
    if (it == order_wide_.end()) it = order_wide_.emplace(key, per_key(wide_internals(r))).first;
    const auto [own_sq, own_max] = diff_sq_and_max(std::span<const float>(t), std::span<const float>(it->second));
    const Slice& o = order_slice();
    const auto [sq, worst] = diff_sq_and_max(std::span<const double>(o.candidate), std::span<const float>(t));
    return {sq / o.reference_sq, own_sq / o.reference_sq, worst, own_max};
  }

  PrecisionMatch evaluate(const Recipe& r, const Recipe& parent) {
    PrecisionMatch m{.recipe = r, .name = "precision:" + recipe_spec(r),
                     .change = describe_recipe_change(p_.spec.recipe, r)};
    const std::vector<float> t = tiled(r, inputs_for(r));
    const std::vector<float>& w = wide(r);
    const std::span<const double> c(slice_.candidate);
    const std::size_t hash = std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(float)));
    hashes_[recipe_spec(r)] = hash;
    auto [own_sq, own_max] = diff_sq_and_max(std::span<const float>(t), std::span<const float>(w));
    auto [sq, worst] = diff_sq_and_max(c, std::span<const float>(t));
    const double ref = slice_.reference_sq;
    m.noise_nmse = own_sq / ref;
    m.nmse = sq / ref;
    const std::string what = m.change.empty() ? "the recipe" : m.change;
    const std::string declared = recipe_spec(p_.spec.recipe);
    // The evidence each kind of change needs: a deterministic shift followed, rounding noise matched,
    // or, where neither shows, the recipe's own rounding reproduced error for error in ggml's order.
    std::string why_not;
    const bool same_as_parent = recipe_spec(r) != recipe_spec(parent) && hashes_.count(recipe_spec(parent)) &&
                                hashes_[recipe_spec(parent)] == hash;
    if (same_as_parent)
      why_not = "its output is the parent recipe's on this case, bit for bit, so nothing here shows it";
    else if (!internal_changes(parent, r) && recipe_spec(r) != recipe_spec(parent))
      why_not = follows_shift(r, parent, c);
    if (why_not.empty() && m.noise_nmse > kMaxOwnNoise)
      why_not = fmt::format("its own rounding (NMSE {:.1e} of the output) wipes out the output here, so matching it says "
                            "nothing",
                            m.noise_nmse);
    if (why_not.empty() && internal_changes(p_.spec.recipe, r)) why_not = noise_like(r, t, c);
    std::string reproduced;
    if (!same_as_parent && m.noise_nmse <= kMaxOwnNoise && (r.acc_pv != DType::f32 || r.acc_rowsum != DType::f32)) {
      const OrderMatch o = per_key_match(r);
      if (o.nmse <= kReproduced * o.noise_nmse) {
        why_not.clear();
        m.reproduced = true;
        m.nmse = o.nmse, worst = o.max_abs, own_max = o.own_max;
        const std::int64_t tokens = order_slice().problem.shape.tokens;
        reproduced = fmt::format("error for error in ggml's order of roundings (keys one at a time: NMSE {:.1e} of the "
                                 "output on the last {} query token{}, {:.2g}x this recipe's own rounding there)",
                                 o.nmse, tokens, tokens == 1 ? "" : "s", o.nmse / o.noise_nmse);
      }
    }
    m.max_abs = worst;
    // A kernel in this recipe differs from its prediction by its own rounding plus the prediction's.
    const double u = r.output == DType::int8 ? 1.0 / 254.0 : unit_roundoff(r.output);
    // Both the recipe's rounding and the fp32 error of any implementation (floor) may be up to
    // kOwnNoise times larger in the candidate than in the prediction.
    const double match = (1.0 + kOwnNoise) * (m.noise_nmse + floor_nmse_);
    const double envelope = (1.0 + kOwnNoise) * (own_max + floor_max_) + u * slice_.golden_max;
    const double d_rms = std::sqrt(m.nmse / match), d_max = envelope > 0 ? worst / envelope : kInf;
    m.d = std::isfinite(m.nmse) ? std::max(d_rms, d_max) : kInf;
    m.score = std::isfinite(m.d) && why_not.empty() ? 1.0 / (1.0 + m.d) : 0.0;
    if (!why_not.empty())
      m.evidence = fmt::format("not {}: {}; the case declares {}", what, why_not, declared);
    else if (!reproduced.empty())
      m.evidence = fmt::format("matches {} {}; the case declares {}", what, reproduced, declared);
    else if (sq == 0)
      m.evidence = fmt::format("matches {} bit for bit; the case declares {}", what, declared);
    else
      m.evidence = fmt::format("matches {} (NMSE {:.1e} of the output: {:.2g}x what this recipe's own rounding, NMSE "
                               "{:.1e}, lets a correct kernel differ; max_abs {:.2e}, {:.2g}x its envelope); the case "
                               "declares {}",
                               what, m.nmse, d_rms, m.noise_nmse, worst, d_max, declared);
    return m;
  }

  const PreparedCase& p_;
  int threads_;
  FingerprintOptions opt_;
  HeadSubset heads_;
  Slice slice_;
  std::string scope_;
  double floor_nmse_ = 0.0, floor_max_ = 0.0;
  int runs_ = 0;        // tiled runs, the budget's
  int order_runs_ = 0;  // per_key runs (on a few query tokens)
  std::map<std::string, PrecisionMatch> tried_;
  std::map<std::string, std::vector<float>> wide_;
  std::map<std::string, Inputs> inputs_;
  std::map<std::string, std::size_t> hashes_;  // of each recipe's prediction: a change that changes nothing shows nothing
  HeadSubset order_heads_;      // the order slice: slice_'s last kOrderQueries query tokens
  std::optional<Slice> order_;  // built on first use
  std::map<std::string, std::vector<float>> order_wide_;  // per_key through fp32 internals, per inputs_key
};

}  // namespace

const PrecisionMatch* Fingerprint::match() const {
  return !tried.empty() && tried.front().score >= kExplainsScore ? &tried.front() : nullptr;
}

std::vector<const PrecisionMatch*> Fingerprint::explaining() const {
  std::vector<const PrecisionMatch*> out;
  const PrecisionMatch* best = match();
  if (!best) return out;
  // A recipe reproduced error for error is told from every one that is not, and from one twice as far.
  const double key = best->reproduced ? best->nmse : best->nmse + best->noise_nmse;
  for (const PrecisionMatch& m : tried)
    if (m.score >= kExplainsScore && m.reproduced == best->reproduced &&
        (best->reproduced ? m.nmse : m.nmse + m.noise_nmse) <= 2.0 * key)
      out.push_back(&m);
  return out;
}

Fingerprint precision_fingerprint(const PreparedCase& p, std::span<const double> candidate, int threads,
                                  const FingerprintOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  Fingerprint f = Search(p, candidate, threads, opt).run();
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return f;
}

nlohmann::json fingerprint_to_json(const Fingerprint& f) {
  nlohmann::json tried = nlohmann::json::array();
  for (const PrecisionMatch& m : f.tried)
    tried.push_back({{"recipe", recipe_spec(m.recipe)}, {"score", m.score}, {"nmse", m.nmse}, {"noise_nmse", m.noise_nmse},
                     {"evidence", m.evidence}});
  const PrecisionMatch* m = f.match();
  return {{"declared", f.declared},
          {"declared_explains", f.declared_explains},
          {"matches", m ? nlohmann::json(recipe_spec(m->recipe)) : nlohmann::json()},
          {"change", m ? m->change : ""},
          {"nmse", m ? nlohmann::json(m->nmse) : nlohmann::json()},
          {"kernel_runs", f.kernel_runs},
          {"per_key_runs", f.per_key_runs},
          {"seconds", f.seconds},
          {"scope", f.scope},
          {"tried", tried}};
}

}  // namespace attn
