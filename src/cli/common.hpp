// Pieces every subcommand shares: exit codes, colour detection, the numbers of the command line
// (strict parsing with a range for every numeric option), byte-size parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

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

// --- Numbers on the command line -------------------------------------------------------------
// CLI11 alone clamps and wraps: "--seed -1" and "--seed 2^64" gave 2^64 - 1, "010" was octal 8,
// "--timeout nan" passed its "positive" check and meant no timeout. Every numeric option is
// declared with one of the validators below instead: a value outside its range, a sign where none
// belongs, NaN or infinity, an overflow or trailing text is refused with exit 2 and a message that
// names the option and the accepted range.

/// --threads: 0 (one per core) up to this.
inline constexpr int kMaxThreads = 1024;
/// The longest duration any option takes, in seconds: a week, as --timeout (kMaxTimeoutSeconds).
inline constexpr double kMaxSeconds = kMaxTimeoutSeconds;
/// --max-memory: from 1 byte up to 1024T (2^50 bytes).
inline constexpr std::uint64_t kMaxMemoryBytes = std::uint64_t(1) << 50;

/// A whole decimal number in [min, max]: digits with a '-' only in front, nothing else (no '+',
/// spaces, hex, octal, exponent or fraction). Otherwise nullopt with `err` = "must be an integer
/// from MIN to MAX, got 'TEXT'".
std::optional<std::int64_t> parse_integer_in(std::string_view text, std::int64_t min, std::int64_t max, std::string* err);

/// A finite decimal number (digits, '.', exponent; no NaN, infinity, hex or spaces) in [min, max],
/// or in (min, max] when min_exclusive. Otherwise nullopt with `err` naming the range.
std::optional<double> parse_seconds_in(std::string_view text, double min, bool min_exclusive, double max, std::string* err);

/// CLI11 validators for the parsers above. Each also rewrites the accepted text into a form
/// CLI11's own conversion reads back exactly (it would take "010" as octal 8), so declare them
/// with ->transform(): ->check() hands a validator a copy and the rewrite would be lost.
CLI::Validator integer_in(std::int64_t min, std::int64_t max);
/// --seed: 0 .. kMaxSeed (2^53 - 1; src/suite/config.hpp says why).
CLI::Validator seed_value();
/// --threads: 0 .. kMaxThreads.
CLI::Validator thread_count();
/// A duration in seconds: [min, kMaxSeconds] ((min, ...] when min_exclusive).
CLI::Validator seconds_in(double min, bool min_exclusive);
/// --timeout: a finite number whose timeout_problem() (src/judge/external.hpp, the one rule) is "".
CLI::Validator timeout_seconds();
/// --max-memory: parse_bytes().
CLI::Validator byte_size();
/// bench --tiles QxKV: two integers from 1 to kMaxInteger joined by 'x'.
CLI::Validator tile_sizes();

/// "8G", "512M", "1024", "1.5GiB" -> bytes: a decimal number (no sign or exponent) and an optional
/// unit K, M, G or T (powers of 1024, optionally followed by "i" and "B"), from 1 byte to
/// kMaxMemoryBytes; nullopt otherwise.
std::optional<std::uint64_t> parse_bytes(const std::string& text);
/// The message for a --max-memory value parse_bytes() refuses.
std::string bad_bytes_message(const std::string& text);

struct MutantInfo;
/// The mutant of that name, or nullptr after printing "unknown mutant" with the nearest name.
const MutantInfo* lookup_mutant(const std::string& name);

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
