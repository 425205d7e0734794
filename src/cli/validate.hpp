// `attn-diff validate`: load and check a suite without running it, and list its cases: what
// `--case` of run, dump, shrink and calibrate selects from.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace attn {

struct ValidateOptions {
  std::string config;
  std::string max_memory = "8G";
  bool names = false;  // only the case names, one per line, for scripts
};

void setup_validate(CLI::App& app, ValidateOptions& opt);
/// "FILE: ok, N cases" then one line per case (name, shape, features, recipe, the run table's
/// first columns); with `names` the case names alone. Exit 0, or 2 after the diagnostics.
int run_validate(const ValidateOptions& opt);

}  // namespace attn
