// Google Benchmark microbenchmarks of the inner pieces of attn-diff: the three attention kernels on
// small gpt-oss-like shapes, the fixed-order dot product, the rounding routines and the metrics.
// One thread each, so a change to a kernel's inner loop shows without the scheduler's noise; the
// whole-problem, multi-threaded numbers are `attn-diff bench`. Built by scripts/microbench.sh
// (target attn_diff_microbench, only when libbenchmark-dev is installed).
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "kernels/blocks.hpp"
#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "src/judge/metrics.hpp"
#include "src/suite/config.hpp"
#include "src/suite/dtype.hpp"
#include "src/suite/inputs.hpp"
#include "src/tools/bench.hpp"

namespace {

using attn::CaseSpec;

// A gpt-oss-like case (one kv head group: 8 query heads on 1 kv head, D 64, sinks, bf16-mixed)
// through the suite loader, so the recipe, scale and inputs are exactly what `run` would use.
CaseSpec make_case(std::int64_t tokens, std::int64_t window) {
  const std::string text = fmt::format(
      R"({{"suite": "microbench", "cases": [{{"name": "c", "tokens": {}, "heads": 8, "kv_heads": 1, "head_dim": 64,
          "window": {}, "sinks": {{"dist": "normal", "std": 1.0}}, "precision": "bf16-mixed"}}]}})",
      tokens, window);
  attn::Suite suite;
  attn::Diagnostics diags;
  if (!attn::parse_suite_text(text, "microbench", {}, &suite, &diags)) throw std::runtime_error("bad microbench case");
  return suite.cases.at(0);
}

// Times `kernel(case, inputs, out)` on the case of the benchmark's {tokens, window} arguments.
template <class Out, class Kernel>
void kernel_bench(benchmark::State& state, Kernel kernel) {
  const CaseSpec c = make_case(state.range(0), state.range(1));
  const attn::Inputs in = attn::make_inputs(c);
  std::vector<Out> out(c.problem.shape.q_elements());
  for (auto _ : state) {
    kernel(c, in, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["flops"] = benchmark::Counter(attn::useful_flops(c.problem), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_golden(benchmark::State& state) {
  kernel_bench<double>(state, [](const CaseSpec& c, const attn::Inputs& in, std::vector<double>& out) {
    attn::golden_attention(c.problem, in, out, 1);
  });
}

void BM_naive(benchmark::State& state) {
  kernel_bench<float>(state, [](const CaseSpec& c, const attn::Inputs& in, std::vector<float>& out) {
    attn::naive_attention(c.problem, in, c.recipe, out, 1);
  });
}

void BM_tiled(benchmark::State& state) {
  kernel_bench<float>(state, [](const CaseSpec& c, const attn::Inputs& in, std::vector<float>& out) {
    attn::tiled_attention(c.problem, in, {.recipe = c.recipe, .tiles = c.tiles, .threads = 1}, out);
  });
}

// {tokens, window}: causal prefill and the 128-token sliding window of gpt-oss's even layers.
void kernel_args(benchmark::internal::Benchmark* b) {
  b->Args({256, 0})->Args({256, 128})->Args({1024, 0})->Args({1024, 128})->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_golden)->Apply(kernel_args);
BENCHMARK(BM_naive)->Apply(kernel_args);
BENCHMARK(BM_tiled)->Apply(kernel_args);

std::vector<float> ramp(std::int64_t n) {
  std::vector<float> x(n);
  for (std::int64_t i = 0; i < n; ++i) x[i] = float(i % 97 - 48) / 17.0f;
  return x;
}

// The register-blocked QKᵀ and P·V of kernels/blocks.hpp over one 2048-key span, D = 64, in the
// element type T, as golden (double) and naive/tiled (float) run them.
template <class T>
ATTN_CLONES void qk_pv(const T* q, const T* kb, const T* v, T* s, T* acc, std::int64_t n) {
  const T* rows[attn::kRows];
  for (int r = 0; r < attn::kRows; ++r) rows[r] = q + r * 64;
  attn::qk_block<T, attn::kRows, attn::kKeyBlock>(rows, kb, 64, 0, n, s, n);
  attn::pv_block<T, attn::kRows, attn::kDimBlock>(s, n, v, 64, 0, n, acc);
}

template <class T>
void BM_blocks(benchmark::State& state) {
  const std::int64_t n = 2048;
  const std::vector<float> f = ramp(n * 64);
  const std::vector<T> q(f.begin(), f.begin() + attn::kRows * 64), kv(f.begin(), f.end());
  std::vector<T> s(attn::kRows * n), acc(attn::kRows * 64);
  for (auto _ : state) {
    qk_pv<T>(q.data(), kv.data(), kv.data(), s.data(), acc.data(), n);
    benchmark::DoNotOptimize(acc.data());
  }
  state.counters["flops"] =
      benchmark::Counter(4.0 * 64 * attn::kRows * double(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_blocks<float>);
BENCHMARK(BM_blocks<double>);

void BM_round_bf16(benchmark::State& state) {
  std::vector<float> x = ramp(4096);
  for (auto _ : state) {
    for (float& v : x) v = attn::round_bf16(v * 1.0009765625f);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 4096);
}
BENCHMARK(BM_round_bf16);

void BM_round_to(benchmark::State& state) {
  const auto t = static_cast<attn::DType>(state.range(0));
  state.SetLabel(std::string(attn::dtype_name(t)));
  std::vector<float> x = ramp(4096);
  for (auto _ : state) {
    for (float& v : x) v = attn::round_to(t, v * 1.0009765625f);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * 4096);
}
BENCHMARK(BM_round_to)
    ->Arg(int(attn::DType::f32))
    ->Arg(int(attn::DType::bf16))
    ->Arg(int(attn::DType::f16))
    ->Arg(int(attn::DType::e4m3));

void BM_metrics(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<double> r(n), c(n);
  for (std::int64_t i = 0; i < n; ++i) {
    r[i] = double(i % 101 - 50) / 7.0;
    c[i] = r[i] + 1e-3 * double(i % 13 - 6);
  }
  const attn::Index4 dims{1, n / 64, 1, 64};
  for (auto _ : state) benchmark::DoNotOptimize(attn::compute_metrics(c, r, dims, {}));
  state.SetItemsProcessed(std::int64_t(state.iterations()) * n);
}
BENCHMARK(BM_metrics)->Arg(64 * 1024)->Arg(1024 * 1024)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
