#include "src/judge/coverage.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn {

const std::vector<CoveragePath>& coverage_paths() {
  static const std::vector<CoveragePath> paths = {
      {"multi_kv_tile", "a query row reads keys from more than one KV tile"},
      {"partial_kv_tail", "more than one KV tile and a partial last one that some row reads"},
      {"partial_q_tail", "more than one query tile and a partial last one"},
      {"skipped_kv_tile", "a KV tile skipped as fully masked for a whole query tile"},
      {"one_key_tile", "a processed KV tile holding exactly one key of its query tile's visible span"},
      {"window_crosses_tile", "a sliding window that spans a KV tile boundary"},
      {"window_cuts_row", "a sliding window that hides keys a row would otherwise see"},
      {"causal_cuts_row", "a causal mask that hides keys a row would otherwise see"},
      {"gqa_grouped", "GQA with q_mult > 1 and more than one kv head (h / q_mult differs from h % Hkv)"},
      {"decode_offset", "queries start after key 0 (q_offset > 0)"},
      {"prefix_keys", "a row sees keys before q_offset"},
      {"empty_row", "a query row with no visible key"},
      {"empty_row_without_sinks", "a row with no visible key, no sinks, in a query tile that is not skipped"},
      {"sinks", "learned sinks"},
      {"sink_dominates", "a sink larger than every visible score of its row"},
      {"int8", "int8 quantised inputs and output"},
      {"backward", "the backward pass: lse, dq, dk, dv and dsinks judged"},
  };
  return paths;
}

std::vector<std::string> compute_coverage(const CaseSpec& c, const Inputs& in) {
  const Problem& p = c.problem;
  const Shape& s = p.shape;
  const std::int64_t Tq = c.tiles.q, Tk = c.tiles.kv;
  const std::int64_t kv_tiles = (s.kv_tokens + Tk - 1) / Tk;
  bool multi = false, partial_kv = false, skipped = false, one_key = false, crosses = false, cuts_w = false,
       cuts_c = false, prefix = false, empty_no_sinks = false;
  for (std::int64_t i0 = 0; i0 < s.tokens; i0 += Tq) {
    const std::int64_t i1 = std::min(i0 + Tq, s.tokens);
    std::int64_t lo_all = s.kv_tokens, hi_all = 0;
    bool has_empty = false, has_full = false;
    for (std::int64_t i = i0; i < i1; ++i) {
      const auto r = p.visible_keys(i);
      const std::int64_t pos = p.position(i);
      if (r.empty()) {
        has_empty = true;
        continue;
      }
      has_full = true;
      lo_all = std::min(lo_all, r.lo), hi_all = std::max(hi_all, r.hi);
      if (r.lo / Tk != (r.hi - 1) / Tk) multi = true, crosses |= p.window > 0;
      if (p.window > 0) cuts_w |= pos - p.window + 1 > 0 || (!p.causal && pos + p.window < s.kv_tokens);
      if (p.causal) cuts_c |= r.hi < s.kv_tokens;
      prefix |= s.q_offset > 0 && r.lo < s.q_offset;
    }
    empty_no_sinks |= has_empty && has_full && !p.has_sinks;
    if (!has_full) {
      skipped |= kv_tiles > 0;
      continue;
    }
    for (std::int64_t t = 0; t < kv_tiles; ++t) {
      const std::int64_t j0 = t * Tk, j1 = std::min(j0 + Tk, s.kv_tokens);
      if (j1 <= lo_all || j0 >= hi_all) {
        skipped = true;
        continue;
      }
      one_key |= j1 - lo_all == 1 || hi_all - j0 == 1;
      partial_kv |= kv_tiles > 1 && t == kv_tiles - 1 && s.kv_tokens % Tk != 0;
    }
  }

  bool dominates = false;
  if (p.has_sinks) {
    const std::int64_t D = s.head_dim, step = std::max<std::int64_t>(1, s.tokens / 8);
    for (std::int64_t b = 0; b < s.batch && !dominates; ++b)
      for (std::int64_t h = 0; h < s.heads && !dominates; ++h)
        for (std::int64_t i = 0; i < s.tokens && !dominates; i += step) {
          const auto r = p.visible_keys(i);
          double mx = -std::numeric_limits<double>::infinity();
          for (std::int64_t j = r.lo; j < r.hi; ++j) {
            double dot = 0;
            for (std::int64_t d = 0; d < D; ++d)
              dot += double(in.q[bshd(b, i, h, d, s.tokens, s.heads, D)]) *
                     double(in.k[bshd(b, j, h / s.q_mult(), d, s.kv_tokens, s.kv_heads, D)]);
            mx = std::max(mx, p.scale * dot);
          }
          dominates = !r.empty() && double(in.sinks[h]) > mx;
        }
  }

  const bool flags[] = {multi,
                        partial_kv,
                        s.tokens > Tq && s.tokens % Tq != 0,
                        skipped,
                        one_key,
                        crosses,
                        cuts_w,
                        cuts_c,
                        s.q_mult() > 1 && s.kv_heads > 1,
                        s.q_offset > 0,
                        prefix,
                        p.empty_rows() > 0,
                        empty_no_sinks,
                        p.has_sinks,
                        dominates,
                        c.recipe.q == DType::int8,
                        c.backward};
  std::vector<std::string> out;
  for (std::size_t n = 0; n < coverage_paths().size(); ++n)
    if (flags[n]) out.push_back(coverage_paths()[n].name);
  return out;
}

}  // namespace attn
