// `attn-diff dump`: cases' inputs and reference outputs, for a kernel that runs elsewhere
// (SPEC §8; the directory's format is described in src/io/dumpdir.hpp).
//
// One case named exactly (`--case NAME`) is written into --out DIR itself, as it always was. Several
// cases (`--case` repeated, a glob, or `--all`) go one per subdirectory, DIR/<case name>: the
// layout follows what was typed, not how many cases a glob happens to match today, so a script's
// paths do not change when a suite gains a case. Each subdirectory is a complete dump (case.json
// written last), and DIR/manifest.json (src/io/manifest.hpp), written after every case, lists them for
// a batch loop and for `compare` of a folder of outputs. Case names must then be safe directory names
// (safe_dir_name()), checked for every case before anything is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace attn {

struct DumpOptions {
  std::string config;
  std::vector<std::string> cases;  // exact names or globs; empty with `all`
  bool all = false;
  std::string out;
  std::string format = "npy";  // npy | safetensors
  std::optional<std::uint64_t> seed;
  std::optional<std::string> precision;  // --precision: every case in this recipe
  int threads = 0;
  std::string max_memory = "8G";
  bool quiet = false;
};

void setup_dump(CLI::App& app, DumpOptions& opt);
int run_dump(const DumpOptions& opt);

/// A case name usable as one directory name anywhere: POSIX's portable file name characters
/// (letters, digits, '.', '_', '-'), not starting with '.' or '-', at most 255 bytes.
bool safe_dir_name(std::string_view name);

}  // namespace attn
