// `attn-diff compare`: judge an external kernel's output file against a dump directory with the
// same code path, metrics, gates, table, reports and exit codes as `run` (SPEC §6).
//
// Batch mode (docs/external-kernels.md "Batch mode"): --inputs a tree `dump --all` wrote (with its
// manifest.json, src/io/manifest.hpp) and --candidate a folder of outputs judges every case of the
// manifest (or those --case selects) in one report, as `run` would: a case whose output is missing,
// unreadable or of the wrong shape is an `error` naming the file, and the other cases are judged.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/cli/report_files.hpp"

#include "src/io/dumpdir.hpp"
#include "src/io/layout.hpp"
#include "src/judge/runner.hpp"

namespace attn {

struct CompareOptions {
  std::string inputs;     // the dump directory (or its case.json)
  std::string candidate;  // .npy or .safetensors; with a batch dump, the folder of outputs
  std::vector<std::string> cases;  // batch mode: globs selecting cases of the manifest
  std::string layout = "bshd";
  bool bf16_bits = false;
  ReportFiles reports;  // --json, --junit, --md, --html
  bool no_diagnose = false;
  int threads = 0;
  std::string max_memory = "8G";
  // --precision RECIPE: judge the dump as if its case declared RECIPE (docs/external-kernels.md).
  std::optional<std::string> precision;
  bool quiet = false;
  bool no_color = false;
};

void setup_compare(CLI::App& app, CompareOptions& opt);
int run_compare(const CompareOptions& opt);

/// A dump and a candidate file, loaded and checked: what compare and diagnose both start from.
struct Comparison {
  Dump dump;
  PreparedCase prepared;
  std::vector<double> candidate;  // bshd
  BackwardTensors tensors;        // what the file held beside the output (SPEC §10)
  Layout layout = Layout::bshd;
  int threads = 1;
};

/// Loads the dump, regenerates its inputs and checks them against the dumped ones, and reads the
/// candidate file. Prints what went wrong and returns the exit code (kExitUsage), or 0.
/// With `precision`, the case is then judged in that recipe (compare --precision): `prepared` holds
/// the case as if it declared it and the inputs stored again in its formats (`dump` stays as read).
int load_comparison(const std::string& inputs, const std::string& candidate, const std::string& layout,
                    bool bf16_bits, int threads, const std::string& max_memory, Comparison* out,
                    const std::optional<std::string>& precision = std::nullopt);

}  // namespace attn
