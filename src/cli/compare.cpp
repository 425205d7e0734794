#include "src/cli/compare.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/cli/progress.hpp"
#include "src/cli/signals.hpp"
#include "src/io/candidate_file.hpp"
#include "src/io/manifest.hpp"
#include "src/report/report.hpp"
#include "src/suite/inputs.hpp"

namespace attn {

void setup_compare(CLI::App& app, CompareOptions& opt) {
  app.add_option("--inputs,-i", opt.inputs,
                 "directory written by `attn-diff dump` (or its case.json); a tree with a manifest.json (dump --all, a "
                 "glob), or that manifest.json, judges every case")
      ->required();
  app.add_option("--candidate", opt.candidate,
                 "the kernel's output: .npy or .safetensors (tensor 'out' or the only one); with a manifest, the folder "
                 "of outputs (<case>.npy, <case>.safetensors or <case>/out.npy|.safetensors)")
      ->required();
  app.add_option("--case", opt.cases, "with a manifest: judge only the cases matching this glob (repeatable)");
  app.add_option("--layout", opt.layout, "layout of the output (every output, with a manifest): bshd (default), bhsd, "
                                         "bs(hd), s(hd)");
  app.add_flag("--bf16-bits", opt.bf16_bits, "read '<u2'/'<i2' .npy files as bf16 bit patterns");
  add_precision_option(app, opt.precision,
                       "judge the dump (every case, with a manifest) as if its case declared this recipe: the recipe's "
                       "default gates instead of the case's tolerance and gates, and the references computed on the "
                       "dumped inputs stored again in the recipe's input formats; e.g. --precision fp32+kv=fp16 "
                       "(docs/external-kernels.md)");
  setup_report_files(app, opt.reports);  // the JSON report carries the diagnosis of a failure
  app.add_flag("--no-diagnose", opt.no_diagnose, "do not diagnose a failure");
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line and failures");
  app.add_flag("--no-color", opt.no_color, "no ANSI colours (also: NO_COLOR=1)");
}

namespace {

// compare --precision RECIPE: the case of the dump at `path` read again as if it declared RECIPE
// (with_precision: its tolerance and gates dropped, the recipe's defaults used, as `run --precision`).
// Its inputs are the dumped ones, checked against the case's own recipe and then stored again in
// RECIPE's input formats (quantize_inputs): what a kernel in that recipe reads from them.
std::optional<CaseSpec> case_in_recipe(const std::string& path, LoadOptions load, const std::string& recipe,
                                       Diagnostics* diags) {
  load.precision = recipe;
  Dump over;
  if (!load_dump(path, load, &over, diags)) return std::nullopt;
  return over.spec;
}

}  // namespace

int load_comparison(const std::string& inputs, const std::string& candidate, const std::string& layout,
                    bool bf16_bits, int threads, const std::string& max_memory, Comparison* out,
                    const std::optional<std::string>& precision) {
  const auto l = layout_from_name(layout);
  if (!l) {
    std::fprintf(stderr, "%s\n", unknown_layout_message(layout).c_str());
    return kExitUsage;
  }
  out->layout = *l;
  out->threads = resolve_threads(threads);
  LoadOptions load{.threads = out->threads};
  if (!apply_max_memory(max_memory, &load)) return kExitUsage;
  Diagnostics diags;
  if (!load_dump(inputs, load, &out->dump, &diags)) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  // Read the candidate before the (possibly long) references, so a wrong file fails fast.
  std::string err;
  if (!read_candidate_file(candidate, out->dump.spec, {.layout = *l, .bf16_bits = bf16_bits}, &out->candidate,
                           &out->tensors, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (precision) {
    // The dumped inputs are checked against the case's own recipe, then stored again in RECIPE's.
    Inputs in = make_inputs(out->dump.spec, out->threads);
    if (!check_dump_inputs(out->dump, in, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return kExitUsage;
    }
    const std::optional<CaseSpec> spec = case_in_recipe(inputs, load, *precision, &diags);
    if (!spec) {
      print_diagnostics(diags);
      return kExitUsage;
    }
    quantize_inputs(spec->recipe, spec->problem.shape, in, out->threads);
    out->prepared = prepare_case(*spec, std::move(in), out->threads);
    return kExitPass;
  }
  out->prepared = prepare_case(out->dump.spec, out->threads);
  if (!check_dump_inputs(out->dump, out->prepared.inputs, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  return kExitPass;
}

namespace {

namespace fs = std::filesystem;

bool is_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// A message "PATH: error: WHAT\nnote: NOTE" as one case's error text: "PATH: WHAT (NOTE)".
std::string as_case_error(std::string msg) {
  if (const auto at = msg.find(": error: "); at != std::string::npos) msg.replace(at, 9, ": ");
  std::string out;
  std::size_t notes = 0;
  for (std::size_t pos = 0; pos <= msg.size();) {
    std::size_t nl = msg.find('\n', pos);
    if (nl == std::string::npos) nl = msg.size();
    std::string line = msg.substr(pos, nl - pos);
    if (line.rfind("note: ", 0) == 0) {
      out += (notes++ ? "; " : " (") + line.substr(6);
    } else if (!line.empty()) {
      out += (out.empty() ? "" : " ") + line;
    }
    pos = nl + 1;
  }
  return notes ? out + ")" : out;
}

// Where compare looks for a case's output in the outputs folder, in this order: the manifest's
// "out", then <case>.npy, <case>.safetensors, <case>/out.npy, <case>/out.safetensors.
std::vector<std::string> output_names(const ManifestCase& mc) {
  std::vector<std::string> names = {mc.out};
  for (std::string n : {mc.name + ".npy", mc.name + ".safetensors", mc.name + "/out.npy", mc.name + "/out.safetensors"})
    if (n != mc.out) names.push_back(std::move(n));
  return names;
}

struct TreeCase {
  const ManifestCase* mc = nullptr;
  Dump dump;
  std::optional<CaseSpec> judged_as;  // --precision: the case in that recipe (case_in_recipe)
  std::string output;   // the output file found, or ""
  std::string missing;  // why there is none: no file, or several
};

// The output of one case: exactly one of output_names() must exist.
void find_output(const std::string& outdir, TreeCase* t) {
  std::vector<std::string> looked, found;
  for (const std::string& name : output_names(*t->mc)) {
    const std::string path = (fs::path(outdir) / name).string();
    looked.push_back(printable(path));
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path, ec))) found.push_back(path);
  }
  if (found.size() == 1) {
    t->output = found[0];
  } else if (found.empty()) {
    t->missing = fmt::format("no output for the case: none of {} exists", fmt::join(looked, ", "));
  } else {
    std::vector<std::string> shown;
    for (const std::string& f : found) shown.push_back(printable(f));
    t->missing = fmt::format("{} outputs for the case ({}): keep one", found.size(), fmt::join(shown, ", "));
  }
}

// Outputs in the folder that belong to no case of the manifest: .npy and .safetensors files, and
// folders holding out.npy or out.safetensors. Anything else (a log, a script) is not an output.
std::vector<std::string> stray_outputs(const std::string& outdir, const Manifest& m) {
  std::set<std::string> known;  // top-level names the manifest's cases may use
  for (const ManifestCase& mc : m.cases)
    for (const std::string& name : output_names(mc)) known.insert(fs::path(name).begin()->string());
  std::vector<std::string> stray;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(outdir, ec)) {
    const std::string name = e.path().filename().string();
    if (known.count(name)) continue;
    const std::string ext = e.path().extension().string();
    std::error_code ec2;
    if (e.is_directory(ec2)) {
      if (fs::exists(e.path() / "out.npy", ec2) || fs::exists(e.path() / "out.safetensors", ec2))
        stray.push_back(printable(name + "/"));
    } else if (ext == ".npy" || ext == ".safetensors") {
      stray.push_back(printable(name));
    }
  }
  std::sort(stray.begin(), stray.end());
  return stray;
}

// A candidate that only says why there is no output: the case is an `error` with the same
// references, metrics and fields as `run` gives a command whose output is unusable.
Candidate no_output(std::string why) {
  return {.kernel = "external", .is_expected = false,
          .produce = [why = std::move(why)](PreparedCase&, std::vector<double>*, std::string* err) {
            *err = why;
            return false;
          }};
}

CaseResult judge_tree_case(const TreeCase& t, const CompareOptions& opt, Layout layout, int threads) {
  const CaseSpec& c = t.dump.spec;
  Inputs generated = make_inputs(c, threads);
  std::string err;
  if (!check_dump_inputs(t.dump, generated, &err))
    return {.spec = t.judged_as.value_or(c), .kernel = "external", .verdict = Verdict::error, .error = as_case_error(err)};
  if (t.judged_as) quantize_inputs(t.judged_as->recipe, t.judged_as->problem.shape, generated, threads);
  PreparedCase p = prepare_case(t.judged_as.value_or(c), std::move(generated), threads);
  if (!t.missing.empty()) return judge(p, no_output(t.missing), {.threads = threads});
  std::vector<double> values;
  BackwardTensors tensors;
  if (!read_candidate_file(t.output, c, {.layout = layout, .bf16_bits = opt.bf16_bits}, &values, &tensors, &err))
    return judge(p, no_output("the output is unusable: " + as_case_error(err)), {.threads = threads});
  return judge_output(p, values, tensors, layout, threads, !opt.no_diagnose);
}

// --inputs naming a tree's manifest.json itself: the tree is its folder.
bool names_manifest(const std::string& inputs) {
  std::error_code ec;
  return fs::path(inputs).filename() == kManifestFile && fs::is_regular_file(inputs, ec);
}

// `compare --inputs TREE --candidate OUTDIR`: every case of the manifest (or of --case) in one report.
int run_compare_tree(const CompareOptions& opt) {
  const std::string root = names_manifest(opt.inputs) ? fs::path(opt.inputs).parent_path().string() : opt.inputs;
  const std::string tree_dir = root.empty() ? "." : root;
  const auto start = std::chrono::steady_clock::now();
  const InterruptScope stop_on_signal;  // Ctrl-C: report the cases judged so far, as `run` does
  const auto layout = layout_from_name(opt.layout);
  if (!layout) {
    std::fprintf(stderr, "%s\n", unknown_layout_message(opt.layout).c_str());
    return kExitUsage;
  }
  const int threads = resolve_threads(opt.threads);
  LoadOptions load{.threads = threads};
  if (!apply_max_memory(opt.max_memory, &load)) return kExitUsage;
  std::error_code ec;
  if (!is_folder(opt.candidate)) {
    std::fprintf(stderr,
                 "%s: error: --inputs '%s' is a batch dump (manifest.json), so --candidate must be the folder of its "
                 "outputs, and this is %s\nnote: the outputs are OUTDIR/<case>.npy (or .safetensors, or "
                 "OUTDIR/<case>/out.npy); to judge one case, pass --inputs '%s/<case>'\n",
                 printable(opt.candidate).c_str(), printable(opt.inputs).c_str(),
                 fs::exists(opt.candidate, ec) ? "not a folder" : "missing", printable(tree_dir).c_str());
    return kExitUsage;
  }
  Manifest manifest;
  Diagnostics diags;
  if (!load_manifest(tree_dir, &manifest, &diags)) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  std::vector<std::string> names;
  std::vector<TreeCase> tree;
  for (const ManifestCase& mc : manifest.cases) {
    names.push_back(mc.name);
    bool match = opt.cases.empty();
    for (const std::string& g : opt.cases) match = match || g == mc.name || glob_match(g, mc.name);
    if (match) tree.push_back({.mc = &mc});
  }
  if (tree.empty()) {
    std::fprintf(stderr, "%s: error: no case of the manifest matches --case %s\nnote: cases: %s\n",
                 printable(manifest.file).c_str(), printable(fmt::format("{}", fmt::join(opt.cases, ", "))).c_str(),
                 printable(fmt::format("{}", fmt::join(names, ", "))).c_str());
    return kExitUsage;
  }
  // Every case.json before any case is judged: a broken tree is bad input (exit 2), not a verdict.
  std::vector<PathOption> inputs = {{"--inputs", manifest.file}};
  for (TreeCase& t : tree) {
    const std::string dir = (fs::path(tree_dir) / t.mc->dir).string();
    if (!load_dump(dir, load, &t.dump, &diags)) continue;
    if (opt.precision && !(t.judged_as = case_in_recipe(dir, load, *opt.precision, &diags))) continue;
    if (t.dump.spec.name != t.mc->name) {
      const std::size_t i = std::size_t(t.mc - manifest.cases.data());
      diags.push_back({manifest.file, "",
                       fmt::format("'cases[{}].name' is '{}', but {} holds case '{}'", i, printable(t.mc->name),
                                   printable(t.dump.case_file), printable(t.dump.spec.name)),
                       "the tree was edited or assembled from several dumps: dump the suite again"});
      continue;
    }
    for (const std::string& file : dump_input_files(dir)) inputs.push_back({"--inputs", file});
    find_output(opt.candidate, &t);
    if (!t.output.empty()) inputs.push_back({"--candidate", t.output});
  }
  if (!diags.empty()) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  if (!check_report_files(opt.reports, inputs)) return kExitUsage;
  if (const std::vector<std::string> stray = stray_outputs(opt.candidate, manifest); !stray.empty())
    std::fprintf(stderr, "%s: note: %zu output%s for no case of the manifest, not judged: %s\n",
                 printable(opt.candidate).c_str(), stray.size(), stray.size() == 1 ? "" : "s",
                 fmt::format("{}", fmt::join(stray, ", ")).c_str());

  RunReport report{.suite = manifest.suite, .config_file = manifest.file};
  report.run = {{"config_digest", manifest.config_digest},
                {"seed", manifest.seed},
                {"candidate", "external"},
                {"cases", nlohmann::json::array()},
                {"outputs", printable(opt.candidate)},
                {"layout", opt.layout},
                {"bf16_bits", opt.bf16_bits}};
  if (opt.precision) report.run["precision"] = precision_record(*opt.precision);  // only when given, as run records it
  for (const std::string& glob : opt.cases) report.run["cases"].push_back(printable(glob));
  {
    Progress progress(tree.size(), tree.size() > 1 && progress_wanted(opt.quiet));
    for (const TreeCase& t : tree) {
      try {
        throw_if_interrupted();
        progress.start_case(report.cases.size(), t.mc->name);
        report.cases.push_back(judge_tree_case(t, opt, *layout, threads));
      } catch (const Interrupted&) {
        report.incomplete = true;
        report.not_run = std::int64_t(tree.size() - report.cases.size());
        break;
      }
    }
  }

  return finish_run_report(report, opt.reports, opt.quiet, opt.no_color, start, tree.size(), "judged");
}

}  // namespace

int run_compare(const CompareOptions& opt) {
  // Batch mode: inputs that are a tree (its manifest.json, or a folder with a manifest and no
  // case.json). Anything else is single-case compare, unchanged (a folder as --candidate there is
  // read_candidate's "is a directory, not a file").
  std::error_code ec;
  const bool tree_inputs = names_manifest(opt.inputs) || (is_folder(opt.inputs) && fs::exists(manifest_path(opt.inputs), ec) &&
                                                          !fs::exists(fs::path(opt.inputs) / "case.json", ec));
  if (tree_inputs) return run_compare_tree(opt);
  if (!opt.cases.empty()) {
    std::fprintf(stderr, "error: --case selects cases of a batch dump (a tree with manifest.json); --inputs '%s' is one "
                         "case\n", printable(opt.inputs).c_str());
    return kExitUsage;
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<PathOption> inputs = {{"--candidate", opt.candidate}};
  for (const std::string& file : dump_input_files(opt.inputs)) inputs.push_back({"--inputs", file});
  if (!check_report_files(opt.reports, inputs)) return kExitUsage;
  Comparison cmp;
  if (int code = load_comparison(opt.inputs, opt.candidate, opt.layout, opt.bf16_bits, opt.threads, opt.max_memory, &cmp,
                                 opt.precision))
    return code;
  CaseResult r = judge_output(cmp.prepared, cmp.candidate, cmp.tensors, cmp.layout, cmp.threads, !opt.no_diagnose);
  RunReport report{.suite = cmp.dump.suite, .config_file = cmp.dump.case_file, .cases = {std::move(r)}};

  return finish_run_report(report, opt.reports, opt.quiet, opt.no_color, start, 1, "judged");
}

}  // namespace attn
