// `attn-diff calibrate`: run the correct kernel and the legitimate variants (kernels/variants.hpp)
// over many seeds and report how close every default gate comes to a false alarm on each, so a
// reader can see why each bound is what it is. The engine is src/tools/calibrate.hpp; this file
// reads the options, draws the progress line, prints the margins and picks the exit code.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/tools/calibrate.hpp"  // the engine: edge_grid_suite(), gate_utilisation(), run_calibration()

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

}  // namespace attn
