// `attn-diff validate`: load and check a suite without running it.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace attn {

struct ValidateOptions {
  std::string config;
  std::string max_memory = "8G";
};

void setup_validate(CLI::App& app, ValidateOptions& opt);
int run_validate(const ValidateOptions& opt);

}  // namespace attn
