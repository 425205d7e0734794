#include "src/cli/dump.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>

#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/cli/progress.hpp"
#include "src/base/fileio.hpp"
#include "src/io/dumpdir.hpp"
#include "src/io/manifest.hpp"
#include "src/judge/runner.hpp"
#include "src/report/shard.hpp"
#include "src/suite/config.hpp"

namespace attn {

namespace {

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// The cases the patterns select, in suite order, each once. A pattern that selects nothing is a
// diagnostic naming it, with the suite's case names as the note.
std::vector<const CaseSpec*> select_cases(const Suite& suite, const DumpOptions& opt, Diagnostics* diags) {
  std::vector<std::string> names;
  for (const CaseSpec& c : suite.cases) names.push_back(c.name);
  std::vector<const CaseSpec*> selected;
  for (const CaseSpec& c : suite.cases) {
    bool match = opt.all;
    for (const std::string& p : opt.cases) match = match || p == c.name || glob_match(p, c.name);
    if (match) selected.push_back(&c);
  }
  for (const std::string& p : opt.cases) {
    bool any = false;
    for (const CaseSpec& c : suite.cases) any = any || p == c.name || glob_match(p, c.name);
    if (any) continue;
    const std::string near = has_glob_chars(p) ? "" : nearest(p, names);
    diags->push_back({opt.config, "",
                      has_glob_chars(p) ? fmt::format("--case '{}' matches no case", printable(p))
                                        : fmt::format("no case named '{}'{}", printable(p),
                                                      near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)),
                      fmt::format("cases: {}", fmt::join(names, ", "))});
  }
  return selected;
}

std::string inputs_line(const CaseSpec& c, DumpFormat format) {
  const Recipe& r = c.recipe;
  const char* sinks = c.problem.has_sinks ? " sinks" : "";
  auto stored = [](DType t) {
    return t == DType::bf16 ? "BF16" : t == DType::f16 ? "F16" : scaled_dtype(t) ? "F32, dequantised; scales in the metadata" : "F32";
  };
  if (!r.uniform_inputs()) {  // each tensor in its own dtype
    std::string each = fmt::format("q {}, k {}, v {}", dtype_name(r.q), dtype_name(r.k), dtype_name(r.v));
    if (c.problem.has_sinks) each += fmt::format(", sinks {}", dtype_name(r.sinks));
    return format == DumpFormat::npy
               ? fmt::format("q.npy k.npy v.npy{} (float32 holding {} values)", c.problem.has_sinks ? " sinks.npy" : "", each)
               : fmt::format("inputs.safetensors (q k v{} each in its own dtype: {})", sinks, each);
  }
  if (format == DumpFormat::npy)
    return fmt::format("q.npy k.npy v.npy{} (float32 holding {} values)", c.problem.has_sinks ? " sinks.npy" : "",
                       dtype_name(r.q));
  return fmt::format("inputs.safetensors (q k v{} as {})", sinks, stored(r.q));
}

}  // namespace

bool safe_dir_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '.' || name[0] == '-') return false;
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
          ch == '-'))
      return false;
  return true;
}

void setup_dump(CLI::App& app, DumpOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file (JSON, SPEC §4)")->required();
  app.add_option("--case", opt.cases,
                 "a case to dump, by name or glob (repeatable): one exact name writes --out DIR itself, a glob or several "
                 "write DIR/<case>/ and DIR/manifest.json");
  app.add_flag("--all", opt.all, "dump every case of the suite, each to --out DIR/<case>, and DIR/manifest.json");
  app.add_option("--out,-o", opt.out, "directory to write (created if missing)")->required();
  app.add_option("--format", opt.format,
                 "npy: q/k/v/sinks.npy as float32 (default); safetensors: one inputs.safetensors, inputs in their own "
                 "dtype");
  app.add_option("--seed", opt.seed, "override the case's seed")->transform(seed_value());
  add_precision_option(app, opt.precision);
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--quiet,-q", opt.quiet, "no progress line on stderr");
}

int run_dump(const DumpOptions& opt) {
  const auto format = dump_format_from_name(opt.format);
  if (!format) {
    std::fprintf(stderr, "error: --format '%s' is not npy or safetensors\n", opt.format.c_str());
    return kExitUsage;
  }
  if (opt.all == !opt.cases.empty()) {
    std::fprintf(stderr, "error: %s\nnote: `attn-diff validate --config FILE` lists the case names\n",
                 opt.all ? "--all and --case both choose the cases: pass one of them"
                         : "pass --case NAME (a glob, repeatable) or --all to say which cases to dump");
    return kExitUsage;
  }
  LoadOptions load{.threads = resolve_threads(opt.threads), .seed = opt.seed, .precision = opt.precision};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  Diagnostics diags;
  const std::vector<const CaseSpec*> selected = select_cases(suite, opt, &diags);
  if (!diags.empty()) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  // One case named exactly keeps the old layout (DIR itself); anything that may select more goes to DIR/<case>.
  const bool one_dir = opt.cases.size() == 1 && selected.size() == 1 && selected[0]->name == opt.cases[0];
  std::vector<std::string> dirs;
  std::vector<PathOption> outputs;
  for (const CaseSpec* c : selected) {
    if (!one_dir && !safe_dir_name(c->name))
      diags.push_back({opt.config, fmt::format("case '{}'", c->name),
                       fmt::format("the case name cannot be a directory name under --out '{}'", printable(opt.out)),
                       fmt::format("several cases are dumped to --out DIR/<case name>, which takes letters, digits, '.', "
                                   "'_' and '-', not first '.' or '-'; rename the case, or dump it alone: --case '{}' "
                                   "--out DIR writes DIR itself",
                                   c->name)});
    dirs.push_back(one_dir ? opt.out : (std::filesystem::path(opt.out) / c->name).string());
    for (PathOption& p : folder_outputs("--out", dirs.back(), dump_file_names())) outputs.push_back(std::move(p));
  }
  if (!diags.empty()) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  if (!one_dir) {
    for (PathOption& p : folder_outputs("--out", opt.out, {kManifestFile})) outputs.push_back(std::move(p));
  }
  if (!check_output_paths({{"--config", opt.config}}, outputs)) return kExitUsage;
  if (!one_dir) {
    // The manifest says the tree is complete: an old one must not vouch for a tree being rewritten.
    std::error_code ec;
    std::filesystem::remove(manifest_path(opt.out), ec);
    if (ec) {
      std::fprintf(stderr, "%s: error: cannot remove the old manifest (%s)\n", printable(manifest_path(opt.out)).c_str(),
                   ec.message().c_str());
      return kExitRuntime;
    }
  }

  Progress progress(selected.size(), selected.size() > 1 && progress_wanted(opt.quiet));
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const CaseSpec& c = *selected[i];
    progress.start_case(i, c.name);
    PreparedCase p = prepare_case(c, load.threads);
    std::string err;
    const DumpRequest req{.dir = dirs[i], .format = *format, .suite = suite.name, .config = opt.config};
    if (!write_dump(req, c, p.inputs, dump_outputs(p, load.threads), &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      if (i > 0) std::fprintf(stderr, "note: the %zu cases before '%s' were dumped completely\n", i, c.name.c_str());
      return kExitRuntime;
    }
    const Shape& s = c.problem.shape;
    std::printf("%s: case '%s' (%s, B=%lld Sq=%lld Sk=%lld H=%lld Hkv=%lld D=%lld, bshd)\n  %s\n  golden.npy (float64) "
                "naive.npy tiled.npy (float32) case.json\n",
                printable(dirs[i]).c_str(), c.name.c_str(), c.recipe.name.c_str(), (long long)s.batch,
                (long long)s.tokens, (long long)s.kv_tokens, (long long)s.heads, (long long)s.kv_heads,
                (long long)s.head_dim, inputs_line(c, *format).c_str());
    if (c.backward)
      std::printf("  do.npy (float32) golden_lse.npy golden_dq.npy golden_dk.npy golden_dv.npy%s (float64)\n",
                  c.problem.has_sinks ? " golden_dsinks.npy" : "");
  }
  if (!one_dir) {
    std::string bytes, why;
    read_text_file(opt.config, &bytes, &why);  // load_suite read it a moment ago
    const ManifestRequest req{.dir = opt.out, .suite = suite.name, .config = opt.config,
                              .config_digest = fmt::format("fnv1a64:{:016x}", fnv1a64(bytes)), .seed = opt.seed,
                              .format = *format};
    std::string err;
    if (!write_manifest(req, selected, &err)) {
      std::fprintf(stderr, "%s\nnote: the %zu cases were dumped completely; only the manifest is missing\n", err.c_str(),
                   selected.size());
      return kExitRuntime;
    }
    std::printf("%s: manifest of %zu cases (`attn-diff compare --inputs %s --candidate OUTDIR` judges their outputs)\n",
                printable(manifest_path(opt.out)).c_str(), selected.size(), printable(opt.out).c_str());
  }
  return kExitPass;
}

}  // namespace attn
