// The numbers of the command line: strict parsing with a range for every numeric option, and byte
// sizes (--max-memory).
//
// CLI11 alone clamps and wraps: "--seed -1" and "--seed 2^64" gave 2^64 - 1, "010" was octal 8,
// "--timeout nan" passed its "positive" check and meant no timeout. Every numeric option is
// declared with one of the validators below instead: a value outside its range, a sign where none
// belongs, NaN or infinity, an overflow or trailing text is refused with exit 2 and a message that
// names the option and the accepted range.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "src/judge/external.hpp"
#include "src/suite/config.hpp"

namespace attn {

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
/// --precision RECIPE on run, dump, shrink, bench and compare: a built-in recipe, optionally with
/// +key=value overrides (src/suite/recipe.hpp). Sets `precision` (LoadOptions::precision): every case
/// runs in that recipe, with its default gates. Accepts what parse_recipe_text accepts; the message
/// says what is wrong. `help` replaces the default help text (compare's differs).
CLI::Validator recipe_validator();
CLI::Option* add_precision_option(CLI::App& app, std::optional<std::string>& precision, const std::string& help = "");
/// A valid --precision as reports record it (`run.precision`): the recipe's full canonical form
/// (recipe_spec), so "fp32+kv=fp16" and "fp32+k=fp16+v=fp16" are the same run for `merge`.
std::string precision_record(const std::string& text);
/// bench --tiles QxKV: two integers from 1 to kMaxInteger joined by 'x'.
CLI::Validator tile_sizes();

/// "8G", "512M", "1024", "1.5GiB" -> bytes: a decimal number (no sign or exponent) and an optional
/// unit K, M, G or T (powers of 1024, optionally followed by "i" and "B"), from 1 byte to
/// kMaxMemoryBytes; nullopt otherwise.
std::optional<std::uint64_t> parse_bytes(const std::string& text);
/// The message for a --max-memory value parse_bytes() refuses.
std::string bad_bytes_message(const std::string& text);

}  // namespace attn
