#include "src/cli/options.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "src/base/diagnostic.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

std::optional<std::int64_t> parse_integer_in(std::string_view text, std::int64_t min, std::int64_t max, std::string* err) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);  // decimal only: no '+', spaces or 0x
  if (!text.empty() && ec == std::errc() && p == end && v >= min && v <= max) return v;
  *err = fmt::format("must be an integer from {} to {}, got '{}'", min, max, printable(text));
  return std::nullopt;
}

namespace {

// A finite number in plain decimal or scientific notation; from_chars takes no spaces, '+' or hex
// in this format but does take "nan" and "inf", refused here.
std::optional<double> parse_finite(std::string_view text) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string seconds_range(double min, bool min_exclusive) {
  return fmt::format("a number of seconds {} {} and at most {} (a week)", min_exclusive ? ">" : ">=", min, kMaxSeconds);
}

// Hex floating point: what CLI11's strtold reads back to exactly the same double.
std::string exact_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

}  // namespace

std::optional<double> parse_seconds_in(std::string_view text, double min, bool min_exclusive, double max, std::string* err) {
  const std::optional<double> v = parse_finite(text);
  if (v && (min_exclusive ? *v > min : *v >= min) && *v <= max) return v;
  *err = fmt::format("must be {}, got '{}'", seconds_range(min, min_exclusive), printable(text));
  return std::nullopt;
}

CLI::Validator integer_in(std::int64_t min, std::int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) {
        std::string err;
        const auto v = parse_integer_in(text, min, max, &err);
        if (v) text = std::to_string(*v);
        return v ? std::string() : err;
      },
      fmt::format("{}..{}", min, max));
}

CLI::Validator seed_value() { return integer_in(0, std::int64_t(kMaxSeed)); }

CLI::Validator thread_count() { return integer_in(0, kMaxThreads).description(fmt::format("0..{}, 0 = one per core", kMaxThreads)); }

CLI::Validator seconds_in(double min, bool min_exclusive) {
  return CLI::Validator(
      [min, min_exclusive](std::string& text) {
        std::string err;
        const auto v = parse_seconds_in(text, min, min_exclusive, kMaxSeconds, &err);
        if (v) text = exact_text(*v);
        return v ? std::string() : err;
      },
      fmt::format("{}{}..{}", min_exclusive ? ">" : "", min, kMaxSeconds));
}

CLI::Validator timeout_seconds() {
  return CLI::Validator(
      [](std::string& text) {
        std::string err;
        const std::optional<double> v = parse_finite(text);  // no hex, spaces or "inf" as CLI11 takes
        if (!v || !timeout_problem(*v).empty())
          return fmt::format("must be {}, got '{}'", seconds_range(0, true), printable(text));
        text = exact_text(*v);
        return std::string();
      },
      fmt::format(">0..{}", kMaxSeconds));
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& text) {
        return parse_bytes(text) ? std::string()
                                 : fmt::format("must be a size from 1 byte to 1024T: a number and an optional unit "
                                               "K, M, G or T (e.g. 8G, 512M, 1000000), got '{}'",
                                               printable(text));
      },
      "SIZE 1..1024T");
}

CLI::Validator tile_sizes() {
  return CLI::Validator(
      [](std::string& text) {
        const std::size_t x = text.find_first_of("xX");
        std::string err;
        const auto q = x == std::string::npos ? std::nullopt : parse_integer_in(text.substr(0, x), 1, kMaxInteger, &err);
        const auto kv = q ? parse_integer_in(text.substr(x + 1), 1, kMaxInteger, &err) : std::nullopt;
        if (q && kv) return std::string();
        return fmt::format("must be QxKV, two integers from 1 to {} (e.g. 128x2048), got '{}'", kMaxInteger, printable(text));
      },
      "QxKV");
}

std::optional<std::uint64_t> parse_bytes(const std::string& text) {
  auto digits = [&](std::size_t i) {
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i;
  };
  std::size_t end = digits(0);
  if (end == 0) return std::nullopt;  // no sign, no ".5", no leading space
  if (end < text.size() && text[end] == '.') {
    const std::size_t frac = digits(end + 1);
    if (frac == end + 1) return std::nullopt;
    end = frac;
  }
  const std::optional<double> value = parse_finite(std::string_view(text).substr(0, end));
  if (!value) return std::nullopt;
  std::string unit = text.substr(end);
  for (char& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  double mult = 1;
  if (unit == "K") mult = 1024.0;
  else if (unit == "M") mult = 1024.0 * 1024;
  else if (unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") return std::nullopt;
  const double bytes = std::floor(*value * mult);
  if (!(bytes >= 1) || bytes > double(kMaxMemoryBytes)) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::string bad_bytes_message(const std::string& text) {
  return fmt::format("error: --max-memory '{}' is not a size from 1 byte to 1024T (e.g. 8G, 512M, 1000000)", printable(text));
}

CLI::Validator recipe_validator() {
  return CLI::Validator(
      [](std::string& text) {
        std::string err;
        return parse_recipe_text(text, &err) ? std::string() : printable(err);
      },
      "RECIPE");
}

std::string precision_record(const std::string& text) {
  std::string err;
  const std::optional<Recipe> r = parse_recipe_text(text, &err);
  return r ? recipe_spec(*r) : printable(text);
}

CLI::Option* add_precision_option(CLI::App& app, std::optional<std::string>& precision, const std::string& help) {
  return app
      .add_option("--precision", precision,
                  !help.empty() ? help
                                : "run every case in this precision recipe instead of its own, with the recipe's default "
                                  "gates (the suite's tolerance and gates are dropped): a preset, optionally with "
                                  "+key=value overrides, e.g. --precision fp32 or --precision fp32+kv=fp16+acc_pv=fp16 "
                                  "(docs/precision.md)")
      ->check(recipe_validator());
}

}  // namespace attn
