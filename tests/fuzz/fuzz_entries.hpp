// The fuzz entry points: arbitrary bytes into the readers of outside files (a suite, an .npy, a
// .safetensors, a JSON report as `merge` reads it, a dump's case.json), with the properties every
// answer must have. The libFuzzer targets beside this
// file and tests/io/fuzz_regression_test.cpp (a plain Catch2 test, no libFuzzer) call the same
// functions, so a finding replays in the normal suite as soon as its file is saved under
// tests/fuzz/regressions/<target>/.
//
// Each entry returns "" when the input was handled well — accepted, or refused with a message that
// starts with the file name — and otherwise says which property broke. A crash, a sanitizer report
// or an exception escaping is a finding too.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "src/io/dumpdir.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "src/judge/runner.hpp"
#include "src/report/formats.hpp"
#include "src/report/reader.hpp"
#include "src/report/shard.hpp"
#include "src/suite/config.hpp"

namespace attn::fuzz {

/// Cases the config entry also runs end to end: at most this many multiply-adds of Q·Kᵀ, so one
/// input stays well under a millisecond.
inline constexpr std::int64_t kMaxRunWork = 1 << 15;

/// A refusal's message must go to a terminal and into a JSON report as it is: no control
/// characters, valid UTF-8 (nlohmann's dump throws otherwise). "" if it can.
inline std::string check_message(const std::string& err) {
  for (char c : err)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return "a control character in the message: " + nlohmann::json(err).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  try {
    (void)nlohmann::json(err).dump();
  } catch (const nlohmann::json::exception&) {
    return "the message is not valid UTF-8";
  }
  return "";
}

inline std::string config_entry(std::string_view bytes) {
  // A small memory limit so the refusal path is reached too; it does not change what parses.
  const LoadOptions opt{.max_memory = 64ull << 20, .threads = 1};
  Suite suite;
  Diagnostics diags;
  if (!parse_suite_text(bytes, "fuzz.json", opt, &suite, &diags)) {
    if (diags.empty()) return "refused without a diagnostic";
    for (const Diagnostic& d : diags) {
      if (d.message.empty() || !d.file.starts_with("fuzz.json")) return "a diagnostic without a message or file: " + d.format();
      std::string text = d.format();
      std::erase(text, '\n');  // the one control character a diagnostic has: before its note
      if (std::string why = check_message(text); !why.empty()) return why;
    }
    return "";
  }
  if (!diags.empty()) return "accepted with diagnostics: " + diags.front().format();
  if (suite.cases.empty()) return "accepted a suite without cases";
  std::set<std::string> names;
  for (const CaseSpec& c : suite.cases) {
    const Shape& s = c.problem.shape;
    if (!names.insert(c.name).second) return "accepted a duplicate name " + c.name;
    if (s.batch < 1 || s.tokens < 1 || s.kv_tokens < 1 || s.heads < 1 || s.kv_heads < 1 || s.head_dim < 1)
      return "accepted a size below 1 in case " + c.name;
    if (s.heads % s.kv_heads != 0) return "accepted heads % kv_heads != 0 in case " + c.name;
    if (s.q_offset + s.tokens > s.kv_tokens) return "accepted queries past the keys in case " + c.name;
    if (c.tiles.q < 1 || c.tiles.kv < 1) return "accepted a tile size below 1 in case " + c.name;
    if (estimate_memory(c, 1) > opt.max_memory) return "accepted a case over the memory limit: " + c.name;

    // The resolved case written back as a config must load to the same case.
    const nlohmann::json again = {{"cases", {c.to_json()}}};
    Suite back;
    Diagnostics back_diags;
    if (!parse_suite(again, "again.json", opt, &back, &back_diags))
      return fmt::format("case '{}' written by to_json does not load back: {}", c.name, back_diags.front().format());
    if (back.cases.at(0).to_json() != c.to_json())
      return fmt::format("case '{}' changes through to_json: {} became {}", c.name, c.to_json().dump(),
                         back.cases.at(0).to_json().dump());

    // Small cases run end to end: whatever the config says, the kernels must not crash.
    if (s.batch * s.heads * s.tokens * s.kv_tokens * s.head_dim <= kMaxRunWork && c.tiles.kv <= (1 << 16)) {
      const CaseResult r = run_case(c, tiled_candidate(1), {.threads = 1});
      if (r.verdict == Verdict::error) return fmt::format("case '{}' ran into an error: {}", c.name, r.error);
    }
  }
  return "";
}

/// What an accepted array must look like; "" if it does.
inline std::string check_array(const Array& a, const std::string& what) {
  const auto n = element_count(a.shape);
  if (!n) return what + ": accepted a shape whose size overflows";
  if (static_cast<std::uint64_t>(*n) != a.values.size())
    return fmt::format("{}: shape holds {} elements but {} values were read", what, *n, a.values.size());
  return "";
}

inline std::string npy_entry(std::string_view bytes) {
  for (bool bf16_bits : {false, true}) {
    Array a;
    std::string err;
    if (!parse_npy(bytes, "fuzz.npy", &a, &err, {.bf16_bits = bf16_bits})) {
      if (!err.starts_with("fuzz.npy: error: ")) return "refused without a proper message: " + err;
      if (std::string why = check_message(err); !why.empty()) return why;
      continue;
    }
    if (std::string why = check_array(a, "fuzz.npy"); !why.empty()) return why;
    if (a.dtype == ArrayDType::bf16 && !bf16_bits) return "read bf16 without --bf16-bits";
  }
  return "";
}

inline std::string safetensors_entry(std::string_view bytes) {
  std::vector<NamedArray> arrays;
  std::string err;
  if (!parse_safetensors(bytes, "fuzz.safetensors", &arrays, &err)) {
    if (!err.starts_with("fuzz.safetensors: error: ")) return "refused without a proper message: " + err;
    return check_message(err);
  }
  std::set<std::string> names;
  std::uint64_t bytes_read = 0;
  for (const NamedArray& t : arrays) {
    if (t.name == "__metadata__") return "returned __metadata__ as a tensor";
    if (!names.insert(t.name).second) return "returned two tensors named " + t.name;
    if (std::string why = check_array(t.array, "tensor " + t.name); !why.empty()) return why;
    bytes_read += t.array.values.size() * array_itemsize(t.array.dtype);
  }
  // The tensors tile the data buffer exactly, which follows the 8-byte length and the header.
  if (bytes_read > bytes.size()) return "read more tensor bytes than the file holds";
  return "";
}

/// A refusal of a file: "FILE: error: ..." or, from the JSON parser, "FILE:LINE:COL: error: ...",
/// with at most a newline before its note. "" if so.
inline std::string check_refusal(std::string err, const std::string& file) {
  const auto at_position = [&] {  // FILE:LINE:COL: error:
    if (!err.starts_with(file + ":")) return false;
    std::size_t i = file.size() + 1;
    for (int part = 0; part < 2; ++part) {
      const std::size_t digits = i;
      while (i < err.size() && err[i] >= '0' && err[i] <= '9') ++i;
      if (i == digits || i >= err.size() || err[i] != ':') return false;
      ++i;
    }
    return err.compare(i, 8, " error: ") == 0;
  };
  if (!err.starts_with(file + ": error: ") && !err.starts_with("error: ") && !at_position())
    return "refused without a proper message: " + err;
  if (const auto nl = err.find('\n'); nl != std::string::npos && err.compare(nl, 7, "\nnote: ") == 0) err.erase(nl, 1);
  return check_message(err);
}

/// Markup a writer produced: well-formed XML 1.0 character data as far as bytes go, so no control
/// character but tab, LF and CR, and no U+FFFE or U+FFFF. "" if so.
inline std::string check_markup(const std::string& text, const char* what) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
      return fmt::format("{}: a control character 0x{:02x} at byte {}", what, c, i);
    if (c == 0xEF && text.compare(i, 2, "\xEF\xBF") == 0 && i + 2 < text.size() &&
        (static_cast<unsigned char>(text[i + 2]) == 0xBE || static_cast<unsigned char>(text[i + 2]) == 0xBF))
      return fmt::format("{}: U+FFFE or U+FFFF at byte {}", what, i);
  }
  return "";
}

/// One report as `merge` reads it (parse_report, src/report/reader.hpp). Refused: with a message
/// naming the file. Accepted: every writer renders it without throwing, JUnit and HTML as valid
/// XML characters; `merge` of it alone either refuses with a message or gives a report that
/// parse_report accepts again and every writer renders.
inline std::string report_entry(std::string_view bytes) {
  nlohmann::json report;
  std::string err;
  if (!parse_report(bytes, "fuzz.json", &report, &err)) return check_refusal(err, "fuzz.json");
  auto render = [](const nlohmann::json& r, const char* what) -> std::string {
    try {
      if (std::string why = check_markup(render_junit(r), "junit"); !why.empty()) return fmt::format("{}: {}", what, why);
      if (std::string why = check_markup(render_html(r), "html"); !why.empty()) return fmt::format("{}: {}", what, why);
      (void)render_markdown(r);
      (void)r.dump(2);
    } catch (const std::exception& e) {
      return fmt::format("{}: a writer threw: {}", what, e.what());
    }
    return "";
  };
  if (std::string why = render(report, "the report"); !why.empty()) return why;
  nlohmann::json merged;
  try {
    if (!merge_reports({report}, {"fuzz.json"}, &merged, &err)) return check_refusal(err, "fuzz.json");
  } catch (const std::exception& e) {
    return std::string("merge threw: ") + e.what();
  }
  nlohmann::json again;
  if (!parse_report(merged.dump(), "merged.json", &again, &err)) return "merge wrote a report it refuses: " + err;
  if (report_exit_code(merged) == 0 && merged["summary"].value("incomplete", false)) return "an incomplete merge exits 0";
  return render(merged, "the merged report");
}

/// A dump's case.json as `compare` and `diagnose` read it (load_dump, then read_dump_inputs, in a
/// folder holding nothing else). Refused: with a diagnostic naming case.json. Accepted: exactly one
/// case; reading its inputs then fails with a message naming a file (none is there), or succeeds
/// with inputs of the case's sizes.
inline std::string dump_case_entry(std::string_view bytes) {
  namespace fs = std::filesystem;
  static const fs::path dir = fs::temp_directory_path() / fmt::format("attn_diff_fuzz_dump_{}", ::getpid());
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string file = (dir / "case.json").string();
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
  const LoadOptions opt{.max_memory = 64ull << 20, .threads = 1};
  Dump d;
  Diagnostics diags;
  if (!load_dump(dir.string(), opt, &d, &diags)) {
    if (diags.empty()) return "refused without a diagnostic";
    for (const Diagnostic& x : diags) {
      if (x.message.empty() || !x.file.starts_with(dir.string())) return "a diagnostic without a message or file: " + x.format();
      std::string text = x.format();
      std::erase(text, '\n');
      if (std::string why = check_message(text); !why.empty()) return why;
    }
    return "";
  }
  if (d.case_file != file) return "load_dump read another file: " + d.case_file;
  Inputs in;
  std::string err;
  if (!read_dump_inputs(d, &in, &err)) {
    if (!err.starts_with(dir.string()) && !err.starts_with(file)) return "read_dump_inputs refused without naming a file: " + err;
    if (const auto nl = err.find('\n'); nl != std::string::npos) err.erase(nl, 1);
    return check_message(err);
  }
  return "";
}

}  // namespace attn::fuzz
