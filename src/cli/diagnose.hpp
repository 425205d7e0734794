// `attn-diff diagnose`: rank the explanations of a candidate's mismatch (SPEC §6; the hypotheses
// and their scores are src/judge/diagnosis.hpp's).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace attn {

struct DiagnoseOptions {
  std::string inputs;
  std::string candidate;
  std::string layout = "bshd";
  bool bf16_bits = false;
  bool precision = false;  // --precision: fingerprint the rounding even when something else explains it
  std::string json;
  std::size_t top = 5;
  int threads = 0;
  std::string max_memory = "8G";
};

void setup_diagnose(CLI::App& app, DiagnoseOptions& opt);
int run_diagnose(const DiagnoseOptions& opt);

}  // namespace attn
