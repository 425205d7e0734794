// Benchmarking the computations of one case (issue 7): useful-work counting, timing with warm-up
// and repeats, the machine's measured FMA peak, and per-stage peak memory. The CLI lives in
// src/cli/bench.cpp; everything here is callable from tests without CLI11.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/base/memory.hpp"  // peak memory per stage
#include "src/suite/config.hpp"
#include "src/suite/problem.hpp"

namespace attn {

/// Visible (query, key) pairs of the whole problem: Problem::visible_pairs (one interval per row,
/// so O(Sq), never a loop over masked pairs) times batch × heads.
std::int64_t total_visible_pairs(const Problem& p);
/// Useful flops of one attention pass: 4·D per visible pair per head (2·D for Q·Kᵀ, 2·D for P·V).
/// Masked pairs, the softmax and the sinks are not counted, so a kernel that computes masked scores
/// does not look faster than one that skips them.
double useful_flops(const Problem& p);
/// Useful flops of one backward pass (SPEC §10): 10·D per visible pair per head, the five products
/// of FlashAttention-2's backward (S = Q·Kᵀ recomputed, dP = dO·Vᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q,
/// dQ += dS·K), as FlashAttention's own benchmarks count it (2.5 × the forward).
double useful_backward_flops(const Problem& p);

/// Median, min and max of repeated timings; the median is the reported value, min–max the spread.
struct TimingStats {
  std::vector<double> seconds;  // every repeat, in run order
  double median = 0.0, min = 0.0, max = 0.0;
  // Median CPU time of the process (all threads) per repeat. On a machine shared with other jobs the
  // wall time grows with their load; CPU time much less, so cpu / threads is the better guess then.
  double cpu_median = 0.0;
};
TimingStats summarize(std::vector<double> seconds);

/// Calls fn() `warmup` times untimed, then `repeats` times timed (wall clock, steady_clock, and
/// process CPU time).
TimingStats time_repeats(const std::function<void()>& fn, int warmup, int repeats);

/// The machine's measured FMA throughput in GFLOP/s (2 flops per FMA lane), from short loops of
/// independent FMA chains in the widest vectors the CPU supports (src/tools/fma_probe.cpp).
struct PeakProbe {
  std::string isa;  // "avx512", "avx2", or "scalar"
  int threads = 1;  // the `all_threads` figures ran this many threads
  double f32_one = 0.0, f32_all = 0.0, f64_one = 0.0, f64_all = 0.0;
  double seconds = 0.0;  // time the probe took
};
/// Spends about `seconds` in total over the four measurements (one thread and `threads` threads,
/// float32 and float64) and keeps the best chunk of each: a peak is a peak.
PeakProbe measure_peak(int threads, double seconds = 0.2);


/// The CPU's model name, family and model number from /proc/cpuinfo ("unknown" if absent).
std::string cpu_model();

/// The stages `bench` can time, in run order. The *_bwd stages and run_forward need a backward case:
/// golden_bwd and naive_bwd are the references' forward, LSE and gradients in their one pass (what a
/// backward run computes in place of golden and naive; useful flops: forward + backward), tiled_bwd
/// the FlashAttention-2 backward from the tiled forward's output and LSE (useful flops: backward), run_forward a whole `run` of the same case with
/// "backward" off (what the backward's cost is measured against).
const std::vector<std::string>& bench_stage_names();
/// Whether stage `name` needs a backward case.
bool backward_stage(const std::string& name);

struct StageResult {
  std::string name;
  TimingStats time;
  std::optional<double> gflops;      // useful GFLOP/s at the median (not for metrics)
  std::optional<double> peak_share;  // gflops / measured peak at the same thread count
  std::string peak_kind;             // "f32" or "f64": which peak the share is of
  std::uint64_t peak_rss = 0;        // bytes
};

struct BenchOptions {
  int threads = 1;
  int warmup = 1;
  int repeats = 5;
  std::vector<std::string> stages;  // subset of bench_stage_names(); empty = every kernel and the metrics
  double probe_seconds = 0.2;       // 0 skips the probe (no peak shares)
};

struct BenchResult {
  CaseSpec spec;
  BenchOptions options;
  std::string cpu;
  int hardware_threads = 1;
  std::optional<PeakProbe> peak;
  // Validation (one run of golden, naive, tiled and the metrics, judged with the case's gates).
  std::string verdict;  // "pass" or "fail"
  std::vector<std::string> failures;
  double max_abs = 0.0, naive_max_abs = 0.0, validate_seconds = 0.0;
  std::int64_t visible_pairs = 0;
  double flops = 0.0, backward_flops = 0.0;  // backward_flops: 0 on a forward case
  std::vector<StageResult> stages;
};

/// Validates (returns early with verdict "fail" when the tiled kernel fails the case's gates), then
/// times every requested stage. `progress` is told each phase as it starts (may be empty).
BenchResult run_benchmark(const CaseSpec& c, const BenchOptions& opt,
                          const std::function<void(const std::string&)>& progress = {});

/// The JSON form (`"schema": "attn-diff.bench.v1"`) and the table of a result.
nlohmann::json bench_to_json(const BenchResult& r);
std::string render_bench(const BenchResult& r);

}  // namespace attn
