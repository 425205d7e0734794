#include "src/cli/bench.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/suite/config.hpp"
#include "src/tools/bench.hpp"

namespace attn {

void setup_bench(CLI::App& app, BenchCommandOptions& opt) {
  app.footer(
      "Validates first (one run of each computation, the tiled kernel judged with the case's gates), then\n"
      "times each stage: --warmup untimed runs, --repeats timed runs, median with min and max. GFLOP/s count\n"
      "4*D flops per visible query-key pair per head; % peak is of the FMA peak measured at start-up\n"
      "(float64 for golden, float32 for naive and tiled) on the same number of threads. `cpu s` is the\n"
      "process CPU time of a repeat (all threads): on a busy machine, cpu s / threads estimates the idle wall time.\n"
      "A backward case (--backward, or \"backward\": true in the suite) also times golden_bwd and naive_bwd (the\n"
      "references' forward, LSE and gradients in one pass: 14*D flops per visible pair) and tiled_bwd (the\n"
      "FlashAttention-2 backward from the forward's output and LSE: 10*D); `--only run,run_forward` compares a whole backward run\n"
      "with a whole forward run of the same case (docs/backward.md).\n\n"
      "Examples:\n"
      "  attn-diff bench                                   # gpt-oss layer: 2048 tokens, 64/8 heads, D 64, causal, sinks\n"
      "  attn-diff bench --window 128 --only tiled -j 2    # the sliding-window layer, tiled kernel only\n"
      "  attn-diff bench -c configs/phase4.json --case gpt_oss_120b_decode_even_layer --json bench.json\n"
      "  attn-diff bench --tokens 256 --heads 8 --kv-heads 2 --repeats 3 --threads 1\n"
      "  attn-diff bench --backward --only tiled,tiled_bwd,run,run_forward -j 2   # the backward's cost\n");
  auto* config = app.add_option("--config,-c", opt.config, "suite file (JSON, SPEC §4); needs --case when it has several");
  app.add_option("--case", opt.case_name, "the case to time (its name, or a glob matching one case)")->needs(config);
  const CLI::Validator size = integer_in(1, kMaxInteger);  // the range of the suite keys they stand for
  const std::vector<CLI::Option*> shape = {
      app.add_option("--batch", opt.batch, "batch size (default 1)")->transform(size),
      app.add_option("--tokens", opt.tokens, "query tokens Sq (default 2048)")->transform(size),
      app.add_option("--kv-tokens", opt.kv_tokens, "key tokens Sk (default = tokens)")->transform(size),
      app.add_option("--q-offset", opt.q_offset, "position of query row 0 (default kv_tokens - tokens)")
          ->transform(integer_in(-(std::int64_t(1) << 50), kMaxInteger)),
      app.add_option("--heads", opt.heads, "query heads H (default 64)")->transform(size),
      app.add_option("--kv-heads", opt.kv_heads, "kv heads Hkv (default 8)")->transform(size),
      app.add_option("--head-dim", opt.head_dim, "head dimension D (default 64)")->transform(size),
      app.add_option("--window", opt.window, "sliding window, 0 = none (default 0)")->transform(integer_in(0, kMaxInteger)),
      app.add_flag("--causal,!--no-causal", opt.causal, "causal masking (default on)"),
      app.add_flag("--sinks,!--no-sinks", opt.sinks, "learned sinks, normal(0, 1) per head (default on)"),
      app.add_flag("--backward", opt.backward, "a backward case (SPEC §10): also time the gradients (default off)"),
      app.add_option("--tiles", opt.tiles, "tile sizes QxKV of the tiled kernel (default 128x2048)")->check(tile_sizes()),
      app.add_option("--seed", opt.seed, "input seed (default 0)")->transform(seed_value())};
  for (CLI::Option* o : shape) o->excludes(config)->group("Shape (instead of --config)");
  add_precision_option(app, opt.precision,
                       "precision recipe: a preset, optionally with +key=value overrides (docs/precision.md); of the "
                       "shape (default bf16-mixed), or with --config the case's instead of its own, with the recipe's "
                       "default gates (as run --precision)");
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--repeats,-r", opt.repeats, "timed runs per stage (default 5)")->transform(integer_in(1, 1000000));
  app.add_option("--warmup", opt.warmup, "untimed runs before them (default 1)")->transform(integer_in(0, 1000000));
  app.add_option("--only", opt.only,
                 "time only these stages: golden,naive,tiled,golden_bwd,naive_bwd,tiled_bwd,metrics,run,run_forward "
                 "(run = a whole `attn-diff run` of the case; the *_bwd stages and run_forward need a backward case)")
      ->delimiter(',')
      ->check(CLI::IsMember(bench_stage_names()));
  app.add_option("--probe-seconds", opt.probe_seconds, "time spent measuring the FMA peak, 0 = skip (default 0.2)")
      ->transform(seconds_in(0, /*min_exclusive=*/false));
  app.add_option("--json", opt.json, "write the results as JSON (schema attn-diff.bench.v1) to this file");
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
}

nlohmann::json bench_shape_suite(const BenchCommandOptions& opt) {
  nlohmann::json c = {{"name", "bench"},
                       {"batch", opt.batch},
                       {"tokens", opt.tokens},
                       {"kv_tokens", opt.kv_tokens > 0 ? opt.kv_tokens : opt.tokens},
                       {"heads", opt.heads},
                       {"kv_heads", opt.kv_heads},
                       {"head_dim", opt.head_dim},
                       {"causal", opt.causal},
                       {"window", opt.window},
                       {"precision", opt.precision.value_or("bf16-mixed")},
                       {"seed", opt.seed}};
  if (opt.q_offset) c["q_offset"] = *opt.q_offset;
  if (opt.sinks) c["sinks"] = {{"dist", "normal"}, {"std", 1.0}};
  if (opt.backward) c["backward"] = true;
  const auto x = opt.tiles.find_first_of("xX");
  try {
    std::size_t a = 0, b = 0;
    if (x == std::string::npos) throw std::invalid_argument("no x");
    const long long q = std::stoll(opt.tiles.substr(0, x), &a), kv = std::stoll(opt.tiles.substr(x + 1), &b);
    if (a != x || b != opt.tiles.size() - x - 1) throw std::invalid_argument("trailing");
    c["tiles"] = {{"q", q}, {"kv", kv}};
  } catch (const std::exception&) {
    c["tiles"] = opt.tiles;  // the suite loader rejects it with its own message
  }
  return {{"suite", "bench"}, {"cases", {c}}};
}

int run_bench(const BenchCommandOptions& opt) {
  const int threads = resolve_threads(opt.threads);
  // With --config, --precision overrides the case's recipe as `run --precision` does; in the shape
  // mode it is the shape's own recipe.
  LoadOptions load{.threads = threads, .precision = opt.config.empty() ? std::nullopt : opt.precision};
  Suite suite;
  if (!opt.config.empty()) {
    if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  } else {
    if (!apply_max_memory(opt.max_memory, &load)) return kExitUsage;
    Diagnostics diags;
    if (!parse_suite(bench_shape_suite(opt), "bench shape options", load, &suite, &diags)) {
      print_diagnostics(diags);
      return kExitUsage;
    }
  }
  const CaseSpec* c = nullptr;
  if (opt.case_name.empty() && suite.cases.size() == 1) c = &suite.cases.front();
  else if (opt.case_name.empty()) {
    std::fprintf(stderr, "%s: error: the suite has %zu cases; bench needs --case NAME\n", printable(opt.config).c_str(),
                 suite.cases.size());
    return kExitUsage;
  } else if (!(c = find_one_case(suite, opt.config, opt.case_name, "bench")))
    return kExitUsage;

  for (const std::string& stage : opt.only)
    if (backward_stage(stage) && !c->backward) {
      std::fprintf(stderr, "bench: error: --only %s needs a backward case and '%s' is forward only\nnote: add --backward (shape "
                   "options) or use a case with \"backward\": true\n", stage.c_str(), c->name.c_str());
      return kExitUsage;
    }
  if (!check_output_paths({{"--config", opt.config}}, {{"--json", opt.json}})) return kExitUsage;
  BenchOptions bo{.threads = threads, .warmup = opt.warmup, .repeats = opt.repeats, .stages = opt.only,
                  .probe_seconds = opt.probe_seconds};
  const BenchResult r = run_benchmark(*c, bo, [](const std::string& phase) { std::fprintf(stderr, "bench: %s\n", phase.c_str()); });
  if (r.verdict != "pass") {
    std::fprintf(stderr, "bench: error: the tiled kernel fails case '%s' (%s); not benchmarking a wrong kernel\n",
                 c->name.c_str(), r.verdict.c_str());
    for (const std::string& f : r.failures) std::fprintf(stderr, "  %s\n", f.c_str());
    return kExitFail;
  }
  std::printf("validated: tiled vs golden max_abs %.3g (naive %.3g), the case's gates pass (%.2f s)\n", r.max_abs,
              r.naive_max_abs, r.validate_seconds);
  std::fputs(render_bench(r).c_str(), stdout);
  std::fflush(stdout);
  if (!opt.json.empty() && !write_json_file(opt.json, bench_to_json(r))) return kExitRuntime;
  return kExitPass;
}

}  // namespace attn
