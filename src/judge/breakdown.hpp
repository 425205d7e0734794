// Where the error is (SPEC §5 "Breakdowns for the report"): max |c - r| and mean |c - r| per
// (batch, head), per query token and per query tile, two heatmaps and the error histogram. Data
// only; the HTML, Markdown and JSON writers render it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"

namespace attn {

/// Per group of elements: the largest and the mean |c - r| over its finite differences. A group
/// holding a non-finite difference has max_abs = +inf; mean is over the finite ones (0 if none).
struct ErrorStat {
  double max_abs = 0.0;
  double mae = 0.0;
};

/// A grid of max |c - r|, downsampled by taking the max over `row_step` × `col_step` source cells.
/// A cell is NaN when it holds no data (a tile pair no row reads), +inf when it holds a non-finite
/// difference.
struct Heatmap {
  std::int64_t rows = 0, cols = 0;                // cells
  std::int64_t source_rows = 0, source_cols = 0;  // before downsampling
  std::int64_t row_step = 1, col_step = 1;        // source rows/cols per cell (the last may be partial)
  std::vector<double> cells;                      // row-major, rows × cols

  double at(std::int64_t r, std::int64_t c) const { return cells[std::size_t(r * cols + c)]; }
};

/// Counts of |c - r| in log10 bins, `bins_per_decade` per decade: bin k holds
/// [10^(k/bpd), 10^((k+1)/bpd)); `counts[n]` is bin `first + n`.
struct Histogram {
  int bins_per_decade = 4;
  int first = 0;
  std::vector<std::int64_t> counts;
  std::int64_t zero = 0;       // exact matches
  std::int64_t nonfinite = 0;  // NaN or Inf in either side
};

struct Breakdown {
  std::int64_t batch = 0, heads = 0;
  std::vector<ErrorStat> per_head;    // [b * H + h]
  std::vector<ErrorStat> per_token;   // [i], over batch, heads and head_dim
  std::int64_t q_tile = 0;
  std::vector<ErrorStat> per_q_tile;  // [i / q_tile]
  Heatmap head_token;                 // rows (b, h) as b * H + h, cols query token i
  std::int64_t kv_tile = 0;
  Heatmap tiles;                      // rows query tile, cols KV tile: max over the rows that read it
  Histogram histogram;
  double reference_mean_abs = 0.0;    // mean |r| over finite elements: the scale of `mae`
};

/// Cell limits of the heatmaps; larger grids are downsampled by taking the max.
inline constexpr std::int64_t kHeatmapMaxRows = 128, kHeatmapMaxCols = 256;

/// c, r: [B][Sq][H][D] (the candidate and golden).
Breakdown compute_breakdown(const CaseSpec& c, std::span<const double> cand, std::span<const double> ref);

/// A backward case's tensor i (SPEC §10, src/judge/tensors.hpp's order) as a heatmap of max |c - r|:
/// rows (batch, head) as b * H + h and cols the query token for lse and dq, rows (batch, kv head)
/// and cols the key token for dk and dv. Empty (0 × 0) for dsinks, which has one value per head.
Heatmap tensor_heatmap(const Shape& s, std::size_t i, std::span<const double> cand, std::span<const double> ref);

/// {"rows", "cols", "source_rows", "source_cols", "row_step", "col_step", "cells"} as in breakdown_to_json.
nlohmann::json heatmap_to_json(const Heatmap& h);

/// JSON form for the report: heatmap cells rounded to 3 significant digits, null where there is
/// no data, "nonfinite" where a difference is NaN or Inf.
nlohmann::json breakdown_to_json(const Breakdown& b);

}  // namespace attn
