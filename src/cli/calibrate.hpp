// `attn-diff calibrate`: run the correct kernel and the legitimate variants (kernels/variants.hpp)
// over many seeds and report how close every default gate comes to a false alarm on each, so a
// reader can see why each bound is what it is.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace attn {

struct CalibrateOptions {
  std::vector<std::string> configs;
  std::string grid;                // "edges": the generated grid of edge_grid_suite() instead of/besides configs
  std::vector<std::string> cases;  // globs
  std::vector<std::string> recipes;   // override every config case's recipe ("all" = every one)
  std::vector<std::string> variants;  // judged next to the tiled kernel; empty = all, "none" = none
  int seeds = 1000;
  int threads = 0;
  std::string json;  // per (recipe, kernel, gate) and per (case, kernel, gate): worst utilisation and its seed
  std::string md;    // the per-recipe margins as a Markdown table
  bool quiet = false;
};

void setup_calibrate(CLI::App& app, CalibrateOptions& opt);
int run_calibrate(const CalibrateOptions& opt);

/// The `--grid edges` suite, as a config document (SPEC §4): small shapes at every tile edge for
/// every recipe. Tiles q = 4, kv = 4; tokens and kv_tokens in {1, 3, 4, 5, 9} (1, T-1, T, T+1 and
/// a non-multiple past two tiles; kv_tokens < tokens puts rows before the first key); heads / kv_heads
/// in {1/1, 2/1, 4/2}; masks causal, causal with window 1, non-causal window 3 and non-causal window
/// 16 (> every kv_tokens); sinks none or normal; head_dim 8 and 33 (odd, past one 32-wide block).
/// Case names read "RECIPE/sqN_skN_hH-G_MASK_SINKS_dD".
nlohmann::json edge_grid_suite();

/// How much of a gate's allowance a value uses: value / bound for upper bounds, and
/// (1 - value) / (1 - bound) for lower bounds on quantities at most 1 (correlation, pass rate).
/// Up to 1 passes; the gate fails above 1.
double gate_utilisation(double value, double bound, bool lower);

}  // namespace attn
