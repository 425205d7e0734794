#include "src/judge/breakdown.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace attn {

namespace {

constexpr double kNoData = std::numeric_limits<double>::quiet_NaN();

// max that lets +inf (a non-finite difference) win and ignores NaN (no data).
double max_cell(double a, double b) {
  if (std::isnan(a)) return b;
  if (std::isnan(b)) return a;
  return std::max(a, b);
}

// Sums for one group; finite differences only go into the mean.
struct Acc {
  double max_abs = 0.0, sum = 0.0;
  std::int64_t finite = 0;
  void add(double d, bool is_finite) {
    max_abs = std::max(max_abs, is_finite ? d : HUGE_VAL);
    if (is_finite) sum += d, ++finite;
  }
  void merge(const Acc& o) {
    max_abs = std::max(max_abs, o.max_abs);
    sum += o.sum, finite += o.finite;
  }
  ErrorStat stat() const { return {max_abs, finite ? sum / double(finite) : 0.0}; }
};

// Downsamples a rows × cols grid to at most the heatmap limits, by max.
Heatmap downsample(const std::vector<double>& grid, std::int64_t rows, std::int64_t cols) {
  Heatmap h{.source_rows = rows, .source_cols = cols};
  h.row_step = std::max<std::int64_t>(1, (rows + kHeatmapMaxRows - 1) / kHeatmapMaxRows);
  h.col_step = std::max<std::int64_t>(1, (cols + kHeatmapMaxCols - 1) / kHeatmapMaxCols);
  h.rows = (rows + h.row_step - 1) / h.row_step;
  h.cols = (cols + h.col_step - 1) / h.col_step;
  h.cells.assign(std::size_t(h.rows * h.cols), kNoData);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      double& cell = h.cells[std::size_t((r / h.row_step) * h.cols + c / h.col_step)];
      cell = max_cell(cell, grid[std::size_t(r * cols + c)]);
    }
  return h;
}

std::vector<ErrorStat> stats(const std::vector<Acc>& acc) {
  std::vector<ErrorStat> out;
  for (const Acc& a : acc) out.push_back(a.stat());
  return out;
}

// 3 significant digits: the breakdown is for pictures, and full doubles would triple the JSON.
nlohmann::json rounded(double x) {
  if (std::isnan(x)) return nullptr;
  if (std::isinf(x)) return "nonfinite";
  return std::stod(fmt::format("{:.3g}", x));
}

nlohmann::json stats_to_json(const std::vector<ErrorStat>& s) {
  nlohmann::json max_abs = nlohmann::json::array(), mae = nlohmann::json::array();
  for (const ErrorStat& e : s) max_abs.push_back(rounded(e.max_abs)), mae.push_back(rounded(e.mae));
  return {{"max_abs", max_abs}, {"mae", mae}};
}


}  // namespace

nlohmann::json heatmap_to_json(const Heatmap& h) {
  nlohmann::json cells = nlohmann::json::array();
  for (std::int64_t r = 0; r < h.rows; ++r) {
    nlohmann::json row = nlohmann::json::array();
    for (std::int64_t c = 0; c < h.cols; ++c) row.push_back(rounded(h.at(r, c)));
    cells.push_back(row);
  }
  return {{"rows", h.rows}, {"cols", h.cols}, {"source_rows", h.source_rows}, {"source_cols", h.source_cols},
          {"row_step", h.row_step}, {"col_step", h.col_step}, {"cells", cells}};
}

Heatmap tensor_heatmap(const Shape& s, std::size_t i, std::span<const double> cand, std::span<const double> ref) {
  if (i == 4) return {};
  // lse [B][H][Sq]: rows b*H+h directly; dq [B][Sq][H][D], dk, dv [B][Sk][Hkv][D]: token outer.
  const bool lse = i == 0;
  const std::int64_t heads = i <= 1 ? s.heads : s.kv_heads, tokens = i <= 1 ? s.tokens : s.kv_tokens;
  const std::int64_t inner = lse ? 1 : s.head_dim;
  const std::int64_t rows = s.batch * heads;
  std::vector<double> grid(std::size_t(rows * tokens), 0.0);
  for (std::int64_t n = 0; n < std::int64_t(ref.size()); ++n) {
    const std::int64_t e = n / inner;
    std::int64_t b, h, t;
    if (lse) b = e / (heads * tokens), h = e / tokens % heads, t = e % tokens;
    else b = e / (tokens * heads), t = e / heads % tokens, h = e % heads;
    const double d = std::abs(cand[n] - ref[n]);
    double& cell = grid[std::size_t((b * heads + h) * tokens + t)];
    cell = std::max(cell, std::isfinite(d) ? d : HUGE_VAL);
  }
  return downsample(grid, rows, tokens);
}

Breakdown compute_breakdown(const CaseSpec& spec, std::span<const double> cand, std::span<const double> ref) {
  const Problem& p = spec.problem;
  const Shape& s = p.shape;
  const std::int64_t B = s.batch, Sq = s.tokens, H = s.heads, D = s.head_dim;
  const std::int64_t Tq = std::max<std::int64_t>(1, spec.tiles.q), Tk = std::max<std::int64_t>(1, spec.tiles.kv);
  const std::int64_t q_tiles = (Sq + Tq - 1) / Tq, kv_tiles = (s.kv_tokens + Tk - 1) / Tk;
  Breakdown out{.batch = B, .heads = H, .q_tile = Tq, .kv_tile = Tk};

  std::vector<Acc> per_head(static_cast<std::size_t>(B * H)), per_token(static_cast<std::size_t>(Sq));
  std::vector<double> head_token(std::size_t(B * H * Sq), 0.0);
  std::vector<double> token_max(static_cast<std::size_t>(Sq), 0.0);  // over batch and heads: what a row charges its KV tiles
  std::vector<std::int64_t> bins;  // indexed by bin - kMinBin
  constexpr int kBpd = 4, kMinBin = -400 * kBpd;  // below 1e-400 no double lives
  Histogram& hist = out.histogram;
  Acc reference;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        Acc row;
        for (std::int64_t d = 0; d < D; ++d) {
          const std::size_t e = std::size_t(bshd(b, i, h, d, Sq, H, D));
          const double diff = std::abs(cand[e] - ref[e]);
          const bool finite = std::isfinite(cand[e]) && std::isfinite(ref[e]);
          row.add(diff, finite);
          if (finite) reference.add(std::abs(ref[e]), true);
          if (!finite) {
            ++hist.nonfinite;
          } else if (diff == 0.0) {
            ++hist.zero;
          } else {
            const int k = std::max(kMinBin, int(std::floor(std::log10(diff) * kBpd)));
            if (bins.size() <= std::size_t(k - kMinBin)) bins.resize(std::size_t(k - kMinBin) + 1, 0);
            ++bins[std::size_t(k - kMinBin)];
          }
        }
        per_head[std::size_t(b * H + h)].merge(row);
        per_token[std::size_t(i)].merge(row);
        head_token[std::size_t((b * H + h) * Sq + i)] = row.max_abs;
        token_max[std::size_t(i)] = std::max(token_max[std::size_t(i)], row.max_abs);
      }
  out.reference_mean_abs = reference.stat().mae;
  out.per_head = stats(per_head);
  out.per_token = stats(per_token);
  std::vector<Acc> per_q_tile(static_cast<std::size_t>(q_tiles));
  for (std::int64_t i = 0; i < Sq; ++i) per_q_tile[std::size_t(i / Tq)].merge(per_token[std::size_t(i)]);
  out.per_q_tile = stats(per_q_tile);
  out.head_token = downsample(head_token, B * H, Sq);

  // A row's error is charged to every KV tile it reads; a pair no row of the query tile reads is
  // the tile the kernel skips as fully masked, and stays without data.
  std::vector<double> tiles(std::size_t(q_tiles * kv_tiles), kNoData);
  for (std::int64_t i = 0; i < Sq; ++i) {
    const auto r = p.visible_keys(i);
    if (r.empty()) continue;
    for (std::int64_t t = r.lo / Tk; t <= (r.hi - 1) / Tk; ++t) {
      double& cell = tiles[std::size_t((i / Tq) * kv_tiles + t)];
      cell = max_cell(cell, token_max[std::size_t(i)]);
    }
  }
  out.tiles = downsample(tiles, q_tiles, kv_tiles);

  const auto nonzero = std::find_if(bins.begin(), bins.end(), [](std::int64_t n) { return n > 0; });
  if (nonzero != bins.end()) {
    hist.first = int(nonzero - bins.begin()) + kMinBin;
    hist.counts.assign(nonzero, bins.end());
  }
  return out;
}

nlohmann::json breakdown_to_json(const Breakdown& b) {
  nlohmann::json per_head = stats_to_json(b.per_head);
  per_head["batch"] = b.batch;
  per_head["heads"] = b.heads;
  nlohmann::json per_q_tile = stats_to_json(b.per_q_tile);
  per_q_tile["tile"] = b.q_tile;
  nlohmann::json tiles = heatmap_to_json(b.tiles);
  tiles["q_tile"] = b.q_tile;
  tiles["kv_tile"] = b.kv_tile;
  const Histogram& h = b.histogram;
  return {{"per_head", per_head},
          {"per_token", stats_to_json(b.per_token)},
          {"per_q_tile", per_q_tile},
          {"heatmap_head_token", heatmap_to_json(b.head_token)},
          {"heatmap_tiles", tiles},
          {"histogram", {{"bins_per_decade", h.bins_per_decade}, {"first", h.first}, {"counts", h.counts},
                         {"zero", h.zero}, {"nonfinite", h.nonfinite}}}};
}

}  // namespace attn
