#include "src/judge/localisation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "src/judge/gates.hpp"
#include "src/suite/dtype.hpp"

namespace attn {

namespace {

// The largest |c - golden|, |naive - golden| and |tiled - golden| of a slice.
struct Max3 {
  double c = 0.0, n = 0.0, t = 0.0;
  void merge(const Max3& o) { c = std::max(c, o.c), n = std::max(n, o.n), t = std::max(t, o.t); }
};

struct Envelope {
  double k_naive, k_tiled, floor;
  double bound(const Max3& m) const { return std::max(k_naive * m.n, k_tiled * m.t) + floor; }
  bool out(const Max3& m) const { return m.c > bound(m); }
};

std::vector<SliceRange> ranges_of(const std::vector<bool>& out) {
  std::vector<SliceRange> r;
  for (std::int64_t i = 0; i < std::int64_t(out.size()); ++i)
    if (out[std::size_t(i)]) {
      if (!r.empty() && r.back().hi == i - 1) r.back().hi = i;
      else r.push_back({i, i});
    }
  return r;
}

std::int64_t count(const std::vector<SliceRange>& r) {
  std::int64_t n = 0;
  for (const SliceRange& x : r) n += x.hi - x.lo + 1;
  return n;
}

// "head 5" / "heads 4–7" / "heads 0, 3–5".
std::string named(const char* one, const char* many, const std::vector<SliceRange>& r) {
  const bool single = r.size() == 1 && r[0].lo == r[0].hi;
  return fmt::format("{} {}", single ? one : many, format_ranges(r));
}

LocalisationFinding finding(const char* axis, const std::vector<bool>& out) {
  LocalisationFinding f{.axis = axis, .of = std::int64_t(out.size()), .ranges = ranges_of(out)};
  f.all = count(f.ranges) == f.of;
  return f;
}

std::string batch_text(const LocalisationFinding& f) {
  return f.all ? "all batch elements" : fmt::format("{} (of {})", named("batch", "batches", f.ranges), f.of);
}

std::string head_text(const LocalisationFinding& f, const LocalisationFinding& groups, std::int64_t q_mult) {
  if (f.all) return "all heads";
  std::string s = fmt::format("{} (of {})", named("head", "heads", f.ranges), f.of);
  if (q_mult <= 1 || groups.of <= 0) return s;
  // Whole kv groups, or a part of one: say which.
  std::int64_t whole = 0;
  for (const SliceRange& g : groups.ranges)
    for (std::int64_t k = g.lo; k <= g.hi; ++k) {
      bool full = true;
      for (std::int64_t h = k * q_mult; h < (k + 1) * q_mult; ++h)
        full = full && std::any_of(f.ranges.begin(), f.ranges.end(), [h](const SliceRange& r) { return r.lo <= h && h <= r.hi; });
      whole += full;
    }
  const std::int64_t touched = count(groups.ranges);
  if (whole == touched && count(f.ranges) == whole * q_mult)
    return fmt::format("{} ({} of {})", named("head", "heads", f.ranges), named("kv head", "kv heads", groups.ranges), groups.of);
  if (touched == 1)
    return fmt::format("{} (in kv head {} of {}, whose query heads are {}–{})", named("head", "heads", f.ranges),
                       groups.ranges[0].lo, groups.of, groups.ranges[0].lo * q_mult, (groups.ranges[0].lo + 1) * q_mult - 1);
  return s;
}

std::string token_text(const LocalisationFinding& f, const LocalisationFinding& tiles, std::int64_t tile, std::int64_t tokens) {
  if (f.all) return "all query tokens";
  // Whole query tiles: name the tiles.
  std::vector<SliceRange> rows;
  for (const SliceRange& t : tiles.ranges) rows.push_back({t.lo * tile, std::min(tokens, (t.hi + 1) * tile) - 1});
  const bool aligned = tiles.of > 1 && count(rows) == count(f.ranges);
  if (aligned)
    return fmt::format("{} of {} ({})", named("query tile", "query tiles", tiles.ranges), tiles.of, named("query token", "query tokens", rows));
  const std::int64_t n = count(f.ranges);
  if (f.ranges.size() <= 6) return fmt::format("{} (of {})", named("query token", "query tokens", f.ranges), f.of);
  return fmt::format("{} of {} query tokens in {} runs ({})", n, f.of, f.ranges.size(), format_ranges(f.ranges, 4));
}

std::string column_text(const LocalisationFinding& f) {
  return f.all ? "all head-dim columns" : fmt::format("{} (of {})", named("head-dim column", "head-dim columns", f.ranges), f.of);
}

// Spearman's rank correlation (ties get their mean rank).
double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  auto ranks = [](const std::vector<double>& v) {
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < idx.size();) {
      std::size_t j = i;
      while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
      for (std::size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * double(i + j);
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> a = ranks(x), b = ranks(y);
  const double n = double(a.size()), ma = std::accumulate(a.begin(), a.end(), 0.0) / n,
               mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma), sbb += (b[i] - mb) * (b[i] - mb);
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

bool covers(const std::vector<SliceRange>& r, std::int64_t i) {
  return std::any_of(r.begin(), r.end(), [i](const SliceRange& x) { return x.lo <= i && i <= x.hi; });
}

double error_of(double x, double g) { return std::isfinite(x) ? std::abs(x - g) : HUGE_VAL; }

// The maxima of every slice the findings speak of: per row (b, i, h) and per head-dim column in one
// pass over the output, then per batch element, head and query token from the rows.
struct SliceMaxima {
  std::vector<Max3> row, col, batch, head, token;
};

SliceMaxima slice_maxima(const LocalisationInput& in) {
  const Shape& s = in.spec.problem.shape;
  const std::int64_t B = s.batch, Sq = s.tokens, H = s.heads, D = s.head_dim;
  const bool has_tiled = in.tiled.size() == in.golden.size();
  SliceMaxima m{.row = std::vector<Max3>(static_cast<std::size_t>(B * Sq * H)), .col = std::vector<Max3>(static_cast<std::size_t>(D))};
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        Max3& r = m.row[std::size_t((b * Sq + i) * H + h)];
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t e = std::size_t(bshd(b, i, h, d, Sq, H, D));
          const double g = in.golden[e];
          if (!std::isfinite(g)) continue;  // no reference to measure against
          const Max3 x{error_of(in.candidate[e], g), std::isfinite(in.naive[e]) ? std::abs(in.naive[e] - g) : 0.0,
                       has_tiled && std::isfinite(in.tiled[e]) ? std::abs(in.tiled[e] - g) : 0.0};
          r.merge(x);
          m.col[std::size_t(d)].merge(x);
        }
      }
  m.batch.resize(static_cast<std::size_t>(B)), m.head.resize(static_cast<std::size_t>(H)), m.token.resize(static_cast<std::size_t>(Sq));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const Max3& r = m.row[std::size_t((b * Sq + i) * H + h)];
        m.batch[std::size_t(b)].merge(r), m.head[std::size_t(h)].merge(r), m.token[std::size_t(i)].merge(r);
      }
  return m;
}

std::vector<bool> out_of_envelope(const Envelope& env, const std::vector<Max3>& v) {
  std::vector<bool> o;
  for (const Max3& m : v) o.push_back(env.out(m));
  return o;
}

// The finding with its text, or "none out of precision" when no slice is: slices of different axes
// have different envelopes, so an axis may have none out of precision while another has some (a
// rare, marginal failure).
LocalisationFinding described(LocalisationFinding f, std::string text) {
  f.text = f.ranges.empty() ? "none out of precision" : std::move(text);
  return f;
}

LocalisationFinding batch_finding(const std::vector<bool>& batch_out) {
  const LocalisationFinding f = finding("batch", batch_out);
  return described(f, batch_text(f));
}

struct HeadFindings {
  LocalisationFinding heads, kv_heads;
};

// The heads out of precision, and the kv heads (groups of q_mult query heads) they belong to.
HeadFindings head_findings(const std::vector<bool>& head_out, std::int64_t kv_heads, std::int64_t q_mult) {
  std::vector<bool> group_out(static_cast<std::size_t>(kv_heads), false);
  for (std::int64_t h = 0; h < std::int64_t(head_out.size()); ++h)
    if (head_out[std::size_t(h)]) group_out[std::size_t(h / q_mult)] = true;
  const LocalisationFinding fh = finding("head", head_out), fg = finding("kv_head", group_out);
  return {described(fh, head_text(fh, fg, q_mult)),
          described(fg, fg.all ? "all kv heads" : fmt::format("{} (of {})", named("kv head", "kv heads", fg.ranges), fg.of))};
}

struct TokenFindings {
  LocalisationFinding tokens, tiles;
};

// The query tokens out of precision, and the query tiles of `tile` tokens they fall in.
TokenFindings token_findings(const std::vector<bool>& token_out, std::int64_t tile) {
  const std::int64_t tokens = std::int64_t(token_out.size());
  std::vector<bool> tile_out(static_cast<std::size_t>((tokens + tile - 1) / tile), false);
  for (std::int64_t i = 0; i < tokens; ++i)
    if (token_out[std::size_t(i)]) tile_out[std::size_t(i / tile)] = true;
  const LocalisationFinding ft = finding("query_token", token_out), fq = finding("query_tile", tile_out);
  return {described(ft, token_text(ft, fq, tile, tokens)),
          described(fq, fq.all ? "all query tiles" : fmt::format("{} (of {})", named("query tile", "query tiles", fq.ranges), fq.of))};
}

LocalisationFinding column_finding(const std::vector<bool>& col_out) {
  const LocalisationFinding f = finding("column", col_out);
  return described(f, column_text(f));
}

// The largest ratio of a slice's error to its envelope, over batch, head, token and column slices.
double worst_ratio(const Envelope& env, const SliceMaxima& m) {
  double worst = 0.0;
  for (const std::vector<Max3>* v : {&m.batch, &m.head, &m.token, &m.col})
    for (const Max3& x : *v) worst = std::max(worst, env.bound(x) > 0 ? x.c / env.bound(x) : x.c > 0 ? HUGE_VAL : 0.0);
  return worst;
}

// "error spread over all batch elements, heads, query tokens and head-dim columns", naming only
// the axes this shape has.
std::string spread_summary(const Shape& s) {
  std::vector<std::string> names;
  if (s.batch > 1) names.push_back("batch elements");
  if (s.heads > 1) names.push_back("heads");
  if (s.tokens > 1) names.push_back("query tokens");
  if (s.head_dim > 1) names.push_back("head-dim columns");
  std::string list = names.empty() ? "elements" : names.back();
  if (names.size() > 1) {
    names.pop_back();
    list = fmt::format("{} and {}", fmt::join(names, ", "), list);
  }
  return "error spread over all " + list;
}

// "error confined to heads 4–7 (...); all query tokens; elsewhere within precision", from the
// axes the shape has.
std::string confined_summary(const std::vector<const LocalisationFinding*>& axes) {
  std::vector<std::string> confined, everywhere;
  for (const LocalisationFinding* f : axes)
    if (!f->ranges.empty()) (f->all ? everywhere : confined).push_back(f->text);
  std::string summary = confined.empty() ? "error in " + fmt::format("{}", fmt::join(everywhere, ", "))
                                         : "error confined to " + fmt::format("{}", fmt::join(confined, ", "));
  if (!confined.empty() && !everywhere.empty()) summary += "; " + fmt::format("{}", fmt::join(everywhere, ", "));
  if (!confined.empty()) summary += "; elsewhere within precision";
  return summary;
}

// The query tokens with a visible key.
std::vector<std::int64_t> key_readers(const Problem& p) {
  std::vector<std::int64_t> readers;
  for (std::int64_t i = 0; i < p.shape.tokens; ++i)
    if (!p.visible_keys(i).empty()) readers.push_back(i);
  return readers;
}

// KV tiles: the tiles every out-of-precision token reads, when some tokens do not read them.
// A row's keys are one interval, so the tiles it reads are one interval too. None when the
// tokens out of precision are all of them or one (one token reads its tiles trivially).
std::optional<LocalisationFinding> kv_tile_finding(const Problem& p, const std::vector<bool>& token_out,
                                                   const LocalisationFinding& ft, std::int64_t Tk,
                                                   const std::vector<std::int64_t>& readers) {
  const std::int64_t Sq = p.shape.tokens, kv_tiles = (p.shape.kv_tokens + Tk - 1) / Tk;
  if (kv_tiles <= 1 || ft.all || count(ft.ranges) < 2) return std::nullopt;
  std::int64_t lo = 0, hi = kv_tiles - 1;
  bool ok = true;
  for (std::int64_t i = 0; i < Sq && ok; ++i) {
    if (!token_out[std::size_t(i)]) continue;
    const auto k = p.visible_keys(i);
    if (k.empty()) ok = false;
    else lo = std::max(lo, k.lo / Tk), hi = std::min(hi, (k.hi - 1) / Tk);
  }
  std::vector<bool> kv_out(static_cast<std::size_t>(kv_tiles), false), kv_exact(static_cast<std::size_t>(kv_tiles), false);
  bool exact = false;
  for (std::int64_t t = lo; ok && t <= hi; ++t) {
    std::int64_t n = 0;
    bool same = true;  // the tile's readers are exactly the out-of-precision tokens
    for (std::int64_t i : readers) {
      const auto k = p.visible_keys(i);
      const bool reads = k.lo / Tk <= t && t <= (k.hi - 1) / Tk;
      n += reads;
      same = same && reads == bool(token_out[std::size_t(i)]);
    }
    if (n < std::int64_t(readers.size())) kv_out[std::size_t(t)] = true, kv_exact[std::size_t(t)] = same, exact = exact || same;
  }
  if (exact) kv_out = kv_exact;
  LocalisationFinding fk = finding("kv_tile", kv_out);
  if (fk.ranges.empty()) return std::nullopt;
  const SliceRange keys{fk.ranges.front().lo * Tk, std::min(p.shape.kv_tokens, (fk.ranges.back().hi + 1) * Tk) - 1};
  fk.text = fmt::format("{} {} of {} (keys {}–{})", exact ? "the rows out of precision are exactly the rows that read"
                                                          : "every row out of precision reads",
                        named("KV tile", "KV tiles", fk.ranges), fk.of, keys.lo, keys.hi);
  return fk;
}

// Structural checks, each kept only when the data shows it.

// Rows whose window holds one key: within precision while other rows are not, or out of
// precision too.
std::optional<StructuralCheck> one_key_check(const Problem& p, const std::vector<bool>& token_out,
                                             const std::vector<std::int64_t>& readers) {
  const std::int64_t Sq = p.shape.tokens;
  std::vector<bool> one(static_cast<std::size_t>(Sq), false);
  for (std::int64_t i = 0; i < Sq; ++i) one[std::size_t(i)] = p.visible_keys(i).size() == 1;
  const std::vector<SliceRange> one_key = ranges_of(one);
  if (one_key.empty() || count(one_key) >= std::int64_t(readers.size())) return std::nullopt;
  bool any = false, all = true, other = false;
  for (std::int64_t i = 0; i < Sq; ++i) {
    const bool o = token_out[std::size_t(i)];
    if (covers(one_key, i)) any = any || o, all = all && o;
    else other = other || o;
  }
  const std::string which = named("query token", "query tokens", one_key);
  if (!any && other)
    return StructuralCheck{"one_key_rows", fmt::format("rows whose window holds one key ({}) are within precision", which)};
  if (all)
    return StructuralCheck{"one_key_rows", fmt::format("rows whose window holds one key ({}) are out of precision too{}", which,
                                                       p.has_sinks ? "" : " (there the output is that key's V row)")};
  return std::nullopt;
}

// The error of a query token against its number of visible keys: a strong rank correlation either way.
std::optional<StructuralCheck> key_count_check(const Problem& p, const std::vector<Max3>& token,
                                               const std::vector<std::int64_t>& readers) {
  std::vector<double> n, e;
  for (std::int64_t i : readers) n.push_back(double(p.visible_keys(i).size())), e.push_back(token[std::size_t(i)].c);
  std::vector<double> distinct = n;
  std::sort(distinct.begin(), distinct.end());
  if (n.size() < 8 || std::unique(distinct.begin(), distinct.end()) - distinct.begin() < 3) return std::nullopt;
  const double rho = spearman(n, e);
  if (rho < 0.8 && rho > -0.8) return std::nullopt;
  return StructuralCheck{rho > 0 ? "grows_with_keys" : "shrinks_with_keys",
                         fmt::format("the error {} (Spearman {:.2f} over {} query tokens)",
                                     rho > 0 ? "grows with the number of visible keys" : "shrinks as the number of visible keys grows",
                                     rho, n.size())};
}

// Per-row scale: candidate = s · golden along head_dim within precision, in the rows out of it.
std::optional<StructuralCheck> row_scale_check(const LocalisationInput& in, const Envelope& env, const std::vector<Max3>& row) {
  const Shape& s = in.spec.problem.shape;
  const std::int64_t B = s.batch, Sq = s.tokens, H = s.heads, D = s.head_dim;
  if (D < 4) return std::nullopt;
  auto fit = [&](std::int64_t b, std::int64_t i, std::int64_t h, std::int64_t d0, std::int64_t d1, double* scale) {
    double cg = 0, gg = 0;
    for (std::int64_t d = d0; d < d1; ++d) {
      const std::size_t e = std::size_t(bshd(b, i, h, d, Sq, H, D));
      if (std::isfinite(in.golden[e]) && std::isfinite(in.candidate[e])) cg += in.candidate[e] * in.golden[e], gg += in.golden[e] * in.golden[e];
    }
    *scale = gg > 0 ? cg / gg : 1.0;
    return gg > 0;
  };
  std::int64_t rows_out = 0, scaled = 0;
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const Max3& r = row[std::size_t((b * Sq + i) * H + h)];
        if (!env.out(r)) continue;
        ++rows_out;
        double sc;
        if (!fit(b, i, h, 0, D, &sc)) continue;
        double resid = 0;
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t e = std::size_t(bshd(b, i, h, d, Sq, H, D));
          if (std::isfinite(in.golden[e])) resid = std::max(resid, error_of(in.candidate[e], sc * in.golden[e]));
        }
        if (resid <= env.bound(r)) ++scaled, lo = std::min(lo, sc), hi = std::max(hi, sc);
      }
  if (rows_out < 4 || double(scaled) < 0.9 * double(rows_out)) return std::nullopt;
  return StructuralCheck{"row_scale", fmt::format("in {} of {} rows out of precision the candidate is golden times one "
                                                  "constant per row ({:.4g} to {:.4g}), as a wrong softmax normaliser gives",
                                                  scaled, rows_out, lo, hi)};
}

// Per-column scale, in the columns out of precision when they are not all of them.
std::optional<StructuralCheck> column_scale_check(const LocalisationInput& in, const Envelope& env, const std::vector<Max3>& col,
                                                  const std::vector<bool>& col_out, const LocalisationFinding& fc) {
  const Shape& s = in.spec.problem.shape;
  const std::int64_t B = s.batch, Sq = s.tokens, H = s.heads, D = s.head_dim;
  if (fc.all || fc.ranges.empty()) return std::nullopt;
  bool all_scaled = true;
  std::vector<double> scales;
  for (std::int64_t d = 0; d < D && all_scaled; ++d) {
    if (!col_out[std::size_t(d)]) continue;
    double cg = 0, gg = 0;
    for (std::int64_t r = 0; r < B * Sq * H; ++r) {
      const std::size_t e = std::size_t(r * D + d);
      if (std::isfinite(in.golden[e]) && std::isfinite(in.candidate[e])) cg += in.candidate[e] * in.golden[e], gg += in.golden[e] * in.golden[e];
    }
    if (gg <= 0) {
      all_scaled = false;
      break;
    }
    const double sc = cg / gg;
    double resid = 0;
    for (std::int64_t r = 0; r < B * Sq * H; ++r) {
      const std::size_t e = std::size_t(r * D + d);
      if (std::isfinite(in.golden[e])) resid = std::max(resid, error_of(in.candidate[e], sc * in.golden[e]));
    }
    all_scaled = resid <= env.bound(col[std::size_t(d)]);
    scales.push_back(sc);
  }
  if (!all_scaled || scales.empty()) return std::nullopt;
  const auto [mn, mx] = std::minmax_element(scales.begin(), scales.end());
  return StructuralCheck{"column_scale", fmt::format("in {} the candidate is golden times one constant per column ({})",
                                                     named("head-dim column", "head-dim columns", fc.ranges),
                                                     *mn == *mx ? fmt::format("{:.4g}", *mn) : fmt::format("{:.4g} to {:.4g}", *mn, *mx))};
}

}  // namespace

std::string format_ranges(const std::vector<SliceRange>& r, std::size_t max_ranges) {
  std::vector<std::string> parts;
  for (std::size_t k = 0; k < r.size() && k < max_ranges; ++k)
    parts.push_back(r[k].lo == r[k].hi ? fmt::format("{}", r[k].lo) : fmt::format("{}–{}", r[k].lo, r[k].hi));
  if (r.size() > max_ranges) parts.push_back("…");
  return fmt::format("{}", fmt::join(parts, ", "));
}

void localisation_envelope(const CaseSpec& c, double golden_max_abs_value, double probs_rounding, double* k_naive,
                           double* k_tiled, double* floor) {
  const GateSpec* naive = nullptr;
  const GateSpec* tiled = nullptr;
  for (const GateSpec& g : c.gates) {
    if (g.name == "max_abs_vs_naive") naive = &g;
    if (g.name == "max_abs_vs_expected") tiled = &g;
  }
  const std::vector<GateSpec> defaults = default_gates(c.recipe);
  for (const GateSpec& g : defaults) {
    if (!naive && g.name == "max_abs_vs_naive") naive = &g;
    if (!tiled && g.name == "max_abs_vs_expected") tiled = &g;
  }
  *k_naive = naive ? naive->k : 2.0;
  *k_tiled = tiled ? tiled->k : 2.0;
  const double ulp = 2.0 * unit_roundoff(c.recipe.output) * golden_max_abs_value;
  *floor = naive && naive->eps >= 0.0 ? naive->eps : ulp + probs_rounding;
}

Localisation localise(const LocalisationInput& in) {
  const Problem& p = in.spec.problem;
  const Shape& s = p.shape;
  const std::int64_t Tq = std::max<std::int64_t>(1, in.spec.tiles.q), Tk = std::max<std::int64_t>(1, in.spec.tiles.kv);
  const Envelope env{in.k_naive, in.k_tiled, in.floor};
  Localisation out{.k_naive = in.k_naive, .k_tiled = in.k_tiled, .floor = in.floor};

  const SliceMaxima m = slice_maxima(in);
  const std::vector<bool> token_out = out_of_envelope(env, m.token), col_out = out_of_envelope(env, m.col);
  const LocalisationFinding fb = batch_finding(out_of_envelope(env, m.batch));
  const HeadFindings heads = head_findings(out_of_envelope(env, m.head), s.kv_heads, s.q_mult());
  const TokenFindings tokens = token_findings(token_out, Tq);
  const LocalisationFinding fc = column_finding(col_out);
  const LocalisationFinding &fh = heads.heads, &ft = tokens.tokens;
  out.findings = {fb, fh, heads.kv_heads, ft, tokens.tiles, fc};
  // An axis with none out of precision is left out of the summary.
  out.located = !fb.ranges.empty() || !fh.ranges.empty() || !ft.ranges.empty() || !fc.ranges.empty();
  if (!out.located) {
    out.summary = "no batch element, head, query token or head-dim column has error beyond the precision envelope: "
                  "the failure is not localised";
    return out;
  }

  // Only the axes this shape has (a batch of one has no batch axis to speak of).
  std::vector<const LocalisationFinding*> axes;
  if (s.batch > 1) axes.push_back(&fb);
  if (s.heads > 1) axes.push_back(&fh);
  if (s.tokens > 1) axes.push_back(&ft);
  if (s.head_dim > 1) axes.push_back(&fc);
  out.worst_ratio = worst_ratio(env, m);
  const std::string marginal = out.worst_ratio < kMarginal
                                   ? fmt::format("marginally beyond precision (the worst slice is {:.3g}x its envelope): ", out.worst_ratio)
                                   : "";
  out.spread = std::all_of(axes.begin(), axes.end(), [](const LocalisationFinding* f) { return f->all; });
  if (out.spread) {
    out.summary = marginal + spread_summary(s);
    return out;
  }
  const std::vector<std::int64_t> readers = key_readers(p);
  out.summary = marginal + confined_summary(axes);
  if (std::optional<LocalisationFinding> fk = kv_tile_finding(p, token_out, ft, Tk, readers)) {
    out.summary += "; " + fk->text;
    out.findings.push_back(std::move(*fk));
  }
  for (std::optional<StructuralCheck> c : {one_key_check(p, token_out, readers), key_count_check(p, m.token, readers),
                                           row_scale_check(in, env, m.row), column_scale_check(in, env, m.col, col_out, fc)})
    if (c) out.checks.push_back(std::move(*c));
  return out;
}

std::vector<std::string> localisation_lines(const Localisation& l) {
  std::vector<std::string> out = {l.summary};
  for (const StructuralCheck& c : l.checks) out.push_back(c.text);
  return out;
}

namespace {

void append_lines(const nlohmann::json& l, std::vector<std::string>* out) {
  if (!l.is_object() || !l.contains("summary") || !l.at("summary").is_string()) return;
  out->push_back(l.at("summary").get<std::string>());
  if (l.contains("checks") && l.at("checks").is_array())
    for (const nlohmann::json& c : l.at("checks"))
      if (c.is_object() && c.contains("text") && c.at("text").is_string()) out->push_back(c.at("text").get<std::string>());
}

}  // namespace

std::vector<std::string> localisation_lines(const nlohmann::json& case_json) {
  std::vector<std::string> out;
  if (!case_json.is_object()) return out;
  if (case_json.contains("localisation")) append_lines(case_json.at("localisation"), &out);
  // A backward case's failing tensors (SPEC §10), each with its own summary ("dk: ...").
  if (case_json.contains("tensors") && case_json.at("tensors").is_object())
    for (const auto& [name, t] : case_json.at("tensors").items())
      if (t.is_object() && t.contains("localisation")) append_lines(t.at("localisation"), &out);
  return out;
}

nlohmann::json localisation_to_json(const Localisation& l) {
  nlohmann::json findings = nlohmann::json::array(), checks = nlohmann::json::array();
  for (const LocalisationFinding& f : l.findings) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const SliceRange& r : f.ranges) ranges.push_back({r.lo, r.hi});
    findings.push_back({{"axis", f.axis}, {"of", f.of}, {"ranges", ranges}, {"all", f.all}, {"text", f.text}});
  }
  for (const StructuralCheck& c : l.checks) checks.push_back({{"name", c.name}, {"text", c.text}});
  return {{"summary", l.summary},
          {"located", l.located},
          {"spread", l.spread},
          {"envelope", {{"k_naive", l.k_naive}, {"k_tiled", l.k_tiled}, {"floor", l.floor}}},
          {"worst_ratio", std::isfinite(l.worst_ratio) ? nlohmann::json(l.worst_ratio) : nlohmann::json("nonfinite")},
          {"findings", findings},
          {"checks", checks}};
}

}  // namespace attn
