// Pieces every subcommand shares: exit codes, colour detection, loading a suite and finding a case,
// the check of output paths. The numeric options' validators are in src/cli/options.hpp, which
// every subcommand uses with these, so this header includes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/cli/options.hpp"
#include "src/judge/external.hpp"
#include "src/suite/config.hpp"

namespace attn {

/// Exit codes of SPEC §6. A run stopped by a signal exits 128 + the signal (130 for Ctrl-C), as a
/// shell reports a process the signal killed.
enum Exit : int { kExitPass = 0, kExitFail = 1, kExitUsage = 2, kExitRuntime = 3, kExitInterrupted = 128 };

/// Prints every diagnostic to stderr, one format() each.
void print_diagnostics(const Diagnostics& diags);

/// Colour on stdout: only on a terminal, never with --no-color or NO_COLOR set.
bool use_color(bool no_color_flag);

struct MutantInfo;
/// The mutant of that name, or nullptr after printing "unknown mutant" with the nearest name.
const MutantInfo* lookup_mutant(const std::string& name);

/// Sets load->max_memory from `--max-memory TEXT`; false after printing why TEXT is not a size.
bool apply_max_memory(const std::string& text, LoadOptions* load);

/// Loads a suite for a subcommand with `--max-memory TEXT` applied to `load`; on failure prints
/// every diagnostic (or the bad size) and returns false: the caller exits 2.
bool load_for_command(const std::string& config, const std::string& max_memory, LoadOptions load, Suite* out);

/// The case `name` of a suite: its exact name, or a glob that matches exactly one case. Otherwise
/// prints "no case named ..." (with the nearest name) or "matches N cases; `command` takes one"
/// and returns nullptr: the caller exits 2.
const CaseSpec* find_one_case(const Suite& suite, const std::string& config, const std::string& name,
                              const std::string& command);

/// Writes `doc` as indented JSON to `path` atomically (src/base/fileio.hpp); on failure prints the
/// error (naming the path and the errno text) and returns false: the work is done by then, so the
/// caller exits 3 (kExitRuntime), after printing its verdict.
bool write_json_file(const std::string& path, const nlohmann::json& doc);

/// A file a command reads or writes, with the option that named it ("--config", "--json", ...).
struct PathOption {
  std::string option;
  std::string path;
  bool probe = true;  // false for a file in a folder the command creates later
};

/// The files `names` in folder `dir` as outputs of `option` (dump --out, shrink --dump); probed
/// only when the folder exists already.
std::vector<PathOption> folder_outputs(const std::string& option, const std::string& dir,
                                       const std::vector<std::string>& names);

/// The one check every command that writes files makes before doing any work: no output is the
/// same file as an input or as another output (by st_dev/st_ino when it exists, else by normalised
/// path after symlinks; character devices such as /dev/null may be shared by outputs), and every
/// output with `probe` set passes probe_output (src/base/fileio.hpp). Empty paths are skipped. On a problem prints
/// "PATH: error: --json and --config name the same file ..." and returns false: the caller exits 2.
bool check_output_paths(const std::vector<PathOption>& inputs, const std::vector<PathOption>& outputs);

/// Shell-style glob match (*, ?, [...]) of a case name.
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace attn
