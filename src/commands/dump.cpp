#include "src/commands/dump.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/dumpdir.hpp"
#include "src/parallel.hpp"
#include "src/runner.hpp"

namespace attn {

void setup_dump(CLI::App& app, DumpOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file (JSON, SPEC §4)")->required();
  app.add_option("--case", opt.case_name, "the case to dump (its exact name)")->required();
  app.add_option("--out,-o", opt.out, "directory to write (created if missing)")->required();
  app.add_option("--format", opt.format,
                 "npy: q/k/v/sinks.npy as float32 (default); safetensors: one inputs.safetensors, inputs in their own "
                 "dtype");
  app.add_option("--seed", opt.seed, "override the case's seed")->transform(seed_value());
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
}

int run_dump(const DumpOptions& opt) {
  const auto format = dump_format_from_name(opt.format);
  if (!format) {
    std::fprintf(stderr, "error: --format '%s' is not npy or safetensors\n", opt.format.c_str());
    return kExitUsage;
  }
  LoadOptions load{.threads = resolve_threads(opt.threads), .seed = opt.seed};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  const CaseSpec* c = nullptr;
  std::vector<std::string> names;
  for (const CaseSpec& x : suite.cases) {
    names.push_back(x.name);
    if (x.name == opt.case_name) c = &x;
  }
  if (!c) {
    const std::string near = nearest(opt.case_name, names);
    Diagnostic d{opt.config, "", fmt::format("no case named '{}'{}", opt.case_name,
                                             near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)),
                 fmt::format("cases: {}", fmt::join(names, ", "))};
    print_diagnostics({d});
    return kExitUsage;
  }

  if (!check_output_paths({{"--config", opt.config}}, folder_outputs("--out", opt.out, dump_file_names())))
    return kExitUsage;
  PreparedCase p = prepare_case(*c, load.threads);
  std::vector<double> tiled;
  std::string err;
  tiled_candidate(load.threads).produce(*c, p.inputs, &tiled, &err);
  const DumpRequest req{.dir = opt.out, .format = *format, .suite = suite.name, .config = opt.config};
  if (!write_dump(req, *c, p.inputs, {.golden = p.golden, .naive = p.naive, .tiled = tiled}, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  const Shape& s = c->problem.shape;
  const std::string inputs = *format == DumpFormat::npy
                                 ? fmt::format("q.npy k.npy v.npy{} (float32 holding {} values)",
                                               c->problem.has_sinks ? " sinks.npy" : "", dtype_name(c->recipe.input))
                                 : fmt::format("inputs.safetensors (q k v{} as {})", c->problem.has_sinks ? " sinks" : "",
                                               c->recipe.input == DType::bf16   ? "BF16"
                                               : c->recipe.input == DType::f16  ? "F16"
                                               : c->recipe.scaled_input()       ? "F32, dequantised; scales in the metadata"
                                                                                : "F32");
  std::printf("%s: case '%s' (%s, B=%lld Sq=%lld Sk=%lld H=%lld Hkv=%lld D=%lld, bshd)\n  %s\n  golden.npy (float64) "
              "naive.npy tiled.npy (float32) case.json\n",
              opt.out.c_str(), c->name.c_str(), c->recipe.name.c_str(), (long long)s.batch, (long long)s.tokens,
              (long long)s.kv_tokens, (long long)s.heads, (long long)s.kv_heads, (long long)s.head_dim, inputs.c_str());
  return kExitPass;
}

}  // namespace attn
