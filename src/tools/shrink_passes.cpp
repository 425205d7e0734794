// The reduction passes of `shrink` (src/tools/shrink.hpp): each proposes smaller versions of a case,
// smallest first, and never runs anything; the predicate (shrink_predicate.cpp) decides and the
// driver (shrink.cpp) applies them in the order of the table at the end of this file.
#include "src/tools/shrink.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace attn {

namespace {

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

}  // namespace

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

}  // namespace attn
