// `attn-diff dump`: one case's inputs and reference outputs, for a kernel that runs elsewhere
// (SPEC §8; the directory's format is described in src/dumpdir.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace attn {

struct DumpOptions {
  std::string config;
  std::string case_name;
  std::string out;
  std::string format = "npy";  // npy | safetensors
  std::optional<std::uint64_t> seed;
  int threads = 0;
  std::string max_memory = "8G";
};

void setup_dump(CLI::App& app, DumpOptions& opt);
int run_dump(const DumpOptions& opt);

}  // namespace attn
