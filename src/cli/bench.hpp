// `attn-diff bench`: validate, then time golden, naive, tiled and the metrics on one case or shape
// (SPEC §6, issue 7). The timing itself is src/tools/bench.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace attn {

struct BenchCommandOptions {
  std::string config;     // a suite file, with `case_name`; otherwise the shape options below
  std::string case_name;
  // Shape options; the defaults are the gpt-oss attention layer the performance targets are set on.
  std::int64_t batch = 1, tokens = 2048, heads = 64, kv_heads = 8, head_dim = 64, window = 0;
  std::int64_t kv_tokens = 0;         // 0: = tokens
  std::optional<std::int64_t> q_offset;  // default: kv_tokens - tokens
  bool causal = true, sinks = true, backward = false;
  std::optional<std::string> precision;  // the shape's recipe (default bf16-mixed), or --config's override
  std::string tiles = "128x2048";     // QxKV
  std::uint64_t seed = 0;
  int threads = 0;                    // 0 = one per core
  int repeats = 5, warmup = 1;
  std::vector<std::string> only;      // stages; empty = every kernel (the *_bwd ones on a backward case) and metrics
  double probe_seconds = 0.2;
  std::string json;
  std::string max_memory = "8G";
};

void setup_bench(CLI::App& app, BenchCommandOptions& opt);
int run_bench(const BenchCommandOptions& opt);

/// The one-case suite document the shape options describe (what `--config` would otherwise give).
nlohmann::json bench_shape_suite(const BenchCommandOptions& opt);

}  // namespace attn
