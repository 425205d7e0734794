#include "src/tools/bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <latch>
#include <stdexcept>
#include <thread>

#include "kernels/backward.hpp"
#include "kernels/golden.hpp"
#include "kernels/naive.hpp"
#include "kernels/tiled.hpp"
#include "src/base/parallel.hpp"
#include "src/judge/runner.hpp"
#include "src/judge/tensors.hpp"
#include "src/report/table.hpp"
#include "src/suite/inputs.hpp"
#include "src/tools/fma_probe.hpp"

namespace attn {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Best FMA rate (flops/s) of `threads` threads running the same chunk together, over chunks until
// `budget` seconds are spent. The chunk is sized on one thread first so that it lasts ~3 ms: short
// enough that some chunks run while the other tenants of a shared machine are idle.
double best_rate(ProbeIsa isa, bool f64, int threads, double budget) {
  double sink = 0;
  std::int64_t iters = 1 << 12;
  for (;;) {
    const auto t = Clock::now();
    run_fma_chains(isa, f64, iters, &sink);
    if (since(t) >= 0.003 || iters >= (std::int64_t(1) << 40)) break;
    iters *= 2;
  }
  double best = 0;
  const auto start = Clock::now();
  do {
    std::vector<double> flops(threads), secs(threads), sinks(threads);
    std::latch go(threads);
    auto work = [&](int w) {
      go.arrive_and_wait();
      const auto t = Clock::now();
      flops[w] = run_fma_chains(isa, f64, iters, &sinks[w]);
      secs[w] = since(t);
    };
    {
      std::vector<std::jthread> pool;
      for (int w = 1; w < threads; ++w) pool.emplace_back(work, w);
      work(0);
    }
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / *std::max_element(secs.begin(), secs.end()));
    for (double s : sinks) sink += s;
  } while (since(start) < budget);
  volatile double keep = sink;  // keeps `sink`, and so every chain, alive
  (void)keep;
  return best;
}

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace

std::int64_t total_visible_pairs(const Problem& p) { return p.visible_pairs() * p.shape.batch * p.shape.heads; }

double useful_flops(const Problem& p) { return 4.0 * double(p.shape.head_dim) * double(total_visible_pairs(p)); }

double useful_backward_flops(const Problem& p) { return 2.5 * useful_flops(p); }

TimingStats summarize(std::vector<double> seconds) {
  TimingStats s;
  s.seconds = seconds;
  if (seconds.empty()) return s;
  std::sort(seconds.begin(), seconds.end());
  const std::size_t n = seconds.size();
  s.median = n % 2 ? seconds[n / 2] : 0.5 * (seconds[n / 2 - 1] + seconds[n / 2]);
  s.min = seconds.front();
  s.max = seconds.back();
  return s;
}

TimingStats time_repeats(const std::function<void()>& fn, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> secs, cpu;
  for (int i = 0; i < repeats; ++i) {
    const double c = process_cpu_seconds();
    const auto t = Clock::now();
    fn();
    secs.push_back(since(t));
    cpu.push_back(process_cpu_seconds() - c);
  }
  TimingStats s = summarize(std::move(secs));
  s.cpu_median = summarize(std::move(cpu)).median;
  return s;
}

PeakProbe measure_peak(int threads, double seconds) {
  const auto start = Clock::now();
  const ProbeIsa isa = best_probe_isa();
  PeakProbe p{.isa = probe_isa_name(isa), .threads = std::max(threads, 1)};
  const double each = seconds / 4;
  p.f32_one = best_rate(isa, false, 1, each) * 1e-9;
  p.f64_one = best_rate(isa, true, 1, each) * 1e-9;
  // N threads never have less peak than one, nor more than N times one's. A figure outside that
  // only means another process took a core during every chunk (a shared machine): the other
  // measurement is the better bound then.
  p.f32_all = p.threads > 1 ? std::max(p.f32_one, best_rate(isa, false, p.threads, each) * 1e-9) : p.f32_one;
  p.f64_all = p.threads > 1 ? std::max(p.f64_one, best_rate(isa, true, p.threads, each) * 1e-9) : p.f64_one;
  p.f32_one = std::max(p.f32_one, p.f32_all / p.threads);
  p.f64_one = std::max(p.f64_one, p.f64_all / p.threads);
  p.seconds = since(start);
  return p;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name, family, model;
  auto value = [&] {
    const auto colon = line.find(':');
    return colon != std::string::npos && colon + 2 <= line.size() ? line.substr(colon + 2) : std::string();
  };
  while (std::getline(in, line) && !line.empty()) {  // the first processor's block
    if (line.starts_with("model name")) name = value();
    else if (line.starts_with("cpu family")) family = value();
    else if (line.starts_with("model\t")) model = value();
  }
  if (name.empty()) return "unknown";
  // A VM may hide the model ("AMD EPYC"); family and model still tell the generation (26 = Zen 5).
  return family.empty() ? name : fmt::format("{} (family {}, model {})", name, family, model);
}

const std::vector<std::string>& bench_stage_names() {
  static const std::vector<std::string> names = {"golden",    "naive",   "tiled", "golden_bwd", "naive_bwd",
                                                  "tiled_bwd", "metrics", "run",   "run_forward"};
  return names;
}

bool backward_stage(const std::string& name) { return name.ends_with("_bwd") || name == "run_forward"; }

BenchResult run_benchmark(const CaseSpec& c, const BenchOptions& opt,
                          const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  BenchResult r{.spec = c, .options = opt, .cpu = cpu_model(),
                .hardware_threads = int(std::max(1u, std::thread::hardware_concurrency()))};
  if (r.options.stages.empty()) {
    r.options.stages = {"golden", "naive", "tiled", "metrics"};
    if (c.backward) r.options.stages.insert(r.options.stages.begin() + 3, {"golden_bwd", "naive_bwd", "tiled_bwd"});
  }
  for (const std::string& name : r.options.stages)
    if (backward_stage(name) && !c.backward)
      throw std::logic_error(fmt::format("bench stage '{}' on forward case '{}'", name, c.name));  // the CLI refuses it
  const Problem& p = c.problem;
  r.visible_pairs = total_visible_pairs(p);
  r.flops = useful_flops(p);
  if (c.backward) r.backward_flops = useful_backward_flops(p);

  // Phase 1: validate. One run of everything, judged as `attn-diff run` would judge it.
  say("validating");
  const auto vstart = Clock::now();
  PreparedCase prepared = prepare_case(c, opt.threads);
  const CaseResult judged = judge(prepared, tiled_candidate(opt.threads), {.threads = opt.threads});
  r.validate_seconds = since(vstart);
  r.verdict = verdict_name(judged.verdict);
  r.failures = judged.failures;
  r.max_abs = judged.vs_golden.max_abs.value_or(0.0);
  r.naive_max_abs = judged.naive_vs_golden.max_abs.value_or(0.0);
  if (judged.verdict != Verdict::pass) return r;

  if (opt.probe_seconds > 0) {
    say("measuring the FMA peak");
    r.peak = measure_peak(opt.threads, opt.probe_seconds);
  }

  // Phase 2: benchmark. Buffers are allocated once, outside the timed calls.
  const Inputs& in = prepared.inputs;
  std::vector<double> golden(p.shape.q_elements());
  std::vector<float> naive(p.shape.q_elements()), tiled(p.shape.q_elements());
  tiled_attention(p, in, {.recipe = c.recipe, .tiles = c.tiles, .threads = opt.threads}, tiled);
  const std::vector<double> tiled_wide(tiled.begin(), tiled.end());
  const Index4 dims = prepared.dims();
  const TiledOptions tiled_opt{.recipe = c.recipe, .tiles = c.tiles, .threads = opt.threads};
  std::vector<float> tiled_lse_out;
  if (c.backward) {
    tiled_lse_out.resize(lse_elements(p.shape));
    tiled_attention(p, in, tiled_opt, tiled, tiled_lse_out);
  }
  CaseSpec forward = c;
  forward.backward = false;
  for (const std::string& name : bench_stage_names()) {
    if (std::find(r.options.stages.begin(), r.options.stages.end(), name) == r.options.stages.end()) continue;
    say(name);
    std::function<void()> fn;
    if (name == "golden") fn = [&] { golden_attention(p, in, golden, opt.threads); };
    if (name == "naive") fn = [&] { naive_attention(p, in, c.recipe, naive, opt.threads); };
    if (name == "tiled")
      fn = [&] { tiled_attention(p, in, {.recipe = c.recipe, .tiles = c.tiles, .threads = opt.threads}, tiled); };
    if (name == "metrics") fn = [&] { compute_metrics(tiled_wide, prepared.golden, dims, c.tolerance, opt.threads); };
    if (name == "golden_bwd") fn = [&] { golden_tensors(c, in, golden, opt.threads); };
    if (name == "naive_bwd") fn = [&] { naive_tensors(c, in, naive, opt.threads); };
    if (name == "tiled_bwd") fn = [&] { tiled_backward(p, in, tiled, tiled_lse_out, tiled_opt); };
    if (name == "run") fn = [&] { run_case(c, tiled_candidate(opt.threads), {.threads = opt.threads}); };
    if (name == "run_forward") fn = [&] { run_case(forward, tiled_candidate(opt.threads), {.threads = opt.threads}); };
    reset_peak_memory();
    StageResult s{.name = name, .time = time_repeats(fn, opt.warmup, opt.repeats), .peak_rss = peak_memory_bytes()};
    if (name != "metrics" && !name.starts_with("run") && s.time.median > 0) {
      const double flops = name == "tiled_bwd" ? r.backward_flops : name.ends_with("_bwd") ? r.flops + r.backward_flops : r.flops;
      s.gflops = flops / s.time.median * 1e-9;
      s.peak_kind = name.starts_with("golden") ? "f64" : "f32";
      if (r.peak) {
        const double peak = s.peak_kind == "f64" ? r.peak->f64_all : r.peak->f32_all;
        if (peak > 0) s.peak_share = *s.gflops / peak;
      }
    }
    r.stages.push_back(std::move(s));
  }
  return r;
}

nlohmann::json bench_to_json(const BenchResult& r) {
  using nlohmann::json;
  json stages = json::array();
  for (const StageResult& s : r.stages) {
    json j = {{"name", s.name},
              {"seconds", {{"median", s.time.median}, {"min", s.time.min}, {"max", s.time.max}, {"all", s.time.seconds}}},
              {"cpu_seconds_median", s.time.cpu_median},
              {"gflops", s.gflops ? json(*s.gflops) : json(nullptr)},
              {"peak_share", s.peak_share ? json(*s.peak_share) : json(nullptr)},
              {"peak_kind", s.peak_kind.empty() ? json(nullptr) : json(s.peak_kind)},
              {"peak_rss_bytes", s.peak_rss}};
    stages.push_back(std::move(j));
  }
  json peak = nullptr;
  if (r.peak)
    peak = {{"isa", r.peak->isa},
            {"threads", r.peak->threads},
            {"f32_gflops_one_thread", r.peak->f32_one},
            {"f32_gflops_all_threads", r.peak->f32_all},
            {"f64_gflops_one_thread", r.peak->f64_one},
            {"f64_gflops_all_threads", r.peak->f64_all},
            {"seconds", r.peak->seconds}};
  return {{"schema", "attn-diff.bench.v1"},
          {"tool", {{"name", "attn-diff"}, {"version", ATTN_DIFF_VERSION}}},
          {"machine", {{"cpu", r.cpu}, {"hardware_threads", r.hardware_threads}}},
          {"case", r.spec.to_json()},
          {"threads", r.options.threads},
          {"warmup", r.options.warmup},
          {"repeats", r.options.repeats},
          {"visible_pairs", r.visible_pairs},
          {"useful_flops", r.flops},
          {"useful_backward_flops", r.backward_flops > 0 ? json(r.backward_flops) : json(nullptr)},
          {"validation",
           {{"verdict", r.verdict},
            {"failures", r.failures},
            {"max_abs", r.max_abs},
            {"naive_max_abs", r.naive_max_abs},
            {"seconds", r.validate_seconds}}},
          {"peak", peak},
          {"peak_rss_per_stage", peak_memory_resettable()},
          {"stages", stages}};
}

std::string render_bench(const BenchResult& r) {
  std::string out = fmt::format("machine: {}, {} hardware threads; bench threads {}\n", r.cpu, r.hardware_threads,
                                r.options.threads);
  out += fmt::format("case {}: {} {} {}, {} visible pairs, {:.3g} useful GFLOP per pass\n", r.spec.name,
                     shape_label(r.spec.problem.shape), features_label(r.spec), r.spec.recipe.name, r.visible_pairs,
                     r.flops * 1e-9);
  if (r.backward_flops > 0)
    out += fmt::format("backward case: {:.3g} useful GFLOP per backward pass (10*D per visible pair)\n", r.backward_flops * 1e-9);
  if (r.peak && r.peak->threads > 1)
    out += fmt::format("peak ({}, {:.2f} s probe): f32 {:.1f} GFLOP/s on 1 thread, {:.1f} on {}; f64 {:.1f} on 1, {:.1f} on {}\n",
                       r.peak->isa, r.peak->seconds, r.peak->f32_one, r.peak->f32_all, r.peak->threads,
                       r.peak->f64_one, r.peak->f64_all, r.peak->threads);
  else if (r.peak)
    out += fmt::format("peak ({}, {:.2f} s probe): f32 {:.1f} GFLOP/s, f64 {:.1f} GFLOP/s on 1 thread\n", r.peak->isa,
                       r.peak->seconds, r.peak->f32_one, r.peak->f64_one);
  out += fmt::format("{:<11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:>9}  {:>9}\n", "stage", "median s", "min s", "max s",
                     "cpu s", "GFLOP/s", "% peak", "peak RSS");
  for (const StageResult& st : r.stages)
    out += fmt::format("{:<11}  {:>9.4f}  {:>9.4f}  {:>9.4f}  {:>9.4f}  {:>8}  {:>9}  {:>5.0f} MiB\n", st.name,
                       st.time.median, st.time.min, st.time.max, st.time.cpu_median,
                       st.gflops ? fmt::format("{:.2f}", *st.gflops) : "-",
                       st.peak_share ? fmt::format("{:.1f}% {}", 100 * *st.peak_share, st.peak_kind) : "-",
                       double(st.peak_rss) / (1024.0 * 1024.0));
  const auto stage = [&](const char* name) {
    const auto it = std::find_if(r.stages.begin(), r.stages.end(), [&](const StageResult& s) { return s.name == name; });
    return it == r.stages.end() ? nullptr : &*it;
  };
  if (const StageResult *bwd = stage("run"), *fwd = stage("run_forward"); r.backward_flops > 0 && bwd && fwd && fwd->time.median > 0)
    out += fmt::format("backward run / forward run: {:.2f} (medians {:.3f} s / {:.3f} s)\n", bwd->time.median / fwd->time.median,
                       bwd->time.median, fwd->time.median);
  return out;
}

}  // namespace attn
