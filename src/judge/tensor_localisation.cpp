#include "src/judge/tensor_localisation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "src/judge/tensors.hpp"

namespace attn {

namespace {

struct Axis {
  const char* name;      // the finding's axis
  const char* one;       // "kv head"
  const char* many;      // "kv heads"
  std::int64_t of = 0;
  std::int64_t group = 1;  // slices of this many indices (a KV tile of key tokens)
  int dim = 0;             // which of the tensor's four dims
};

// The axes each tensor is localised along, in the order a summary names them.
std::vector<Axis> axes_of(const CaseSpec& c, std::size_t tensor) {
  const Shape& s = c.problem.shape;
  switch (tensor) {
    case 0: return {{"batch", "batch element", "batch elements", s.batch, 1, 0}, {"head", "head", "heads", s.heads, 1, 1},
                    {"query_token", "query token", "query tokens", s.tokens, 1, 2}};
    case 1: return {{"batch", "batch element", "batch elements", s.batch, 1, 0}, {"head", "head", "heads", s.heads, 1, 2},
                    {"query_token", "query token", "query tokens", s.tokens, 1, 1},
                    {"column", "head-dim column", "head-dim columns", s.head_dim, 1, 3}};
    case 2:
    case 3: return {{"batch", "batch element", "batch elements", s.batch, 1, 0},
                    {"kv_head", "kv head", "kv heads", s.kv_heads, 1, 2},
                    {"kv_tile", "KV tile", "KV tiles", (s.kv_tokens + c.tiles.kv - 1) / c.tiles.kv, c.tiles.kv, 1},
                    {"key_token", "key token", "key tokens", s.kv_tokens, 1, 1},
                    {"column", "head-dim column", "head-dim columns", s.head_dim, 1, 3}};
    default: return {{"head", "head", "heads", s.heads, 1, 2}};
  }
}

std::vector<SliceRange> as_ranges(const std::vector<bool>& out) {
  std::vector<SliceRange> r;
  for (std::int64_t i = 0; i < std::int64_t(out.size()); ++i) {
    if (!out[i]) continue;
    if (!r.empty() && r.back().hi == i - 1) r.back().hi = i;
    else r.push_back({i, i});
  }
  return r;
}

}  // namespace

Localisation localise_tensor(const TensorLocalisationInput& in) {
  const Index4 d = tensor_dims(in.spec.problem.shape, in.tensor);
  const std::string name = BackwardTensors::kNames[in.tensor];
  Localisation out{.k_naive = in.k, .k_tiled = in.k, .floor = in.eps};
  std::vector<std::string> parts;
  bool any = false, all_everywhere = true;
  for (const Axis& a : axes_of(in.spec, in.tensor)) {
    if (a.of <= 1) continue;
    const std::int64_t slices = a.of;
    std::vector<double> err(slices, 0.0), yard(slices, 0.0);
    for (std::int64_t n = 0; n < std::int64_t(in.golden.size()); ++n) {
      std::int64_t idx[4], rest = n;
      for (int k = 3; k >= 0; --k) idx[k] = rest % d[k], rest /= d[k];
      const std::int64_t slice = idx[a.dim] / a.group;
      const double g = in.golden[n];
      const double e = std::abs(in.candidate[n] - g);
      err[slice] = std::max(err[slice], std::isfinite(e) ? e : INFINITY);
      yard[slice] = std::max(yard[slice], std::abs(in.naive[n] - g));
      if (!in.tiled.empty()) yard[slice] = std::max(yard[slice], std::abs(in.tiled[n] - g));
    }
    std::vector<bool> bad(slices);
    for (std::int64_t i = 0; i < slices; ++i) {
      const double bound = in.k * yard[i] + in.eps;
      bad[i] = err[i] > bound;
      out.worst_ratio = std::max(out.worst_ratio, bound > 0 ? err[i] / bound : (err[i] > 0 ? INFINITY : 0.0));
    }
    LocalisationFinding f{.axis = a.name, .of = slices, .ranges = as_ranges(bad)};
    if (f.ranges.empty()) continue;
    any = true;
    f.all = f.ranges.size() == 1 && f.ranges[0].lo == 0 && f.ranges[0].hi == slices - 1;
    all_everywhere &= f.all;
    const bool single = f.ranges.size() == 1 && f.ranges[0].lo == f.ranges[0].hi;
    f.text = f.all ? fmt::format("all {} {}", slices, a.many)
                   : fmt::format("{} {} of {}", single ? a.one : a.many, format_ranges(f.ranges), slices);
    parts.push_back(f.text);
    out.findings.push_back(std::move(f));
  }
  out.located = any;
  out.spread = any && all_everywhere;
  if (!any)
    out.summary = name + ": no slice has error beyond the precision envelope: the failure is not localised";
  else if (out.spread)
    out.summary = fmt::format("{}: error everywhere ({})", name, fmt::join(parts, ", "));
  else
    out.summary = fmt::format("{}: error in {}", name, fmt::join(parts, "; "));
  return out;
}

}  // namespace attn
