// `attn-diff calibrate`: run the correct kernel over many seeds and report how close every default
// gate comes to a false alarm, so a reader can see why each bound is what it is.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace attn {

struct CalibrateOptions {
  std::vector<std::string> configs;
  std::vector<std::string> cases;  // globs
  int seeds = 1000;
  int threads = 0;
  std::string json;  // per (suite, case, gate): worst utilisation and its seed
  std::string md;    // the same as a Markdown table
  bool quiet = false;
};

void setup_calibrate(CLI::App& app, CalibrateOptions& opt);
int run_calibrate(const CalibrateOptions& opt);

/// How much of a gate's allowance a value uses: value / bound for upper bounds, and
/// (1 - value) / (1 - bound) for lower bounds on quantities at most 1 (correlation, pass rate).
/// Up to 1 passes; the gate fails above 1.
double gate_utilisation(double value, double bound, bool lower);

}  // namespace attn
