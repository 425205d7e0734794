// The one way attn-diff parses JSON that comes from outside (suite files, a dump's case.json,
// safetensors headers, reports given to merge and --baseline). nlohmann::json alone is too
// forgiving for a CI gate: a NUL byte ends its input (whatever follows is silently ignored), and a
// key given twice keeps the last value, so a second "cases" list can win over the one a reviewer
// reads. Both are refused here, with the nesting limit of json_depth.hpp, and every error carries
// the position it was found at.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/base/json_depth.hpp"

namespace attn {

/// A 1-based line and column (in bytes) and the 0-based byte offset of a place in a text.
struct TextPosition {
  std::size_t offset = 0, line = 1, column = 1;
};

/// The position of byte `offset` of `text`.
TextPosition text_position(std::string_view text, std::size_t offset);

struct JsonError {
  TextPosition at;                    // where the problem is
  std::optional<TextPosition> first;  // a duplicate key: where the key was given first
  std::string message;                // printable (control bytes escaped); no position in it
  std::string note;                   // optional hint
  bool malformed = true;              // not JSON at all (false: valid JSON that is refused)

  /// "malformed JSON: MESSAGE" or "MESSAGE (first at LINE:COL)": what follows "error: ".
  std::string what() const;
  /// "FILE:LINE:COL: error: " what() and "note: NOTE" on a second line: how a text file's error
  /// is printed (the file name escaped with printable()).
  std::string format(const std::string& file) const;
  /// "MESSAGE at byte N (first at byte M)", offsets counted from `base`: for JSON inside a binary
  /// file (a safetensors header starts at byte 8).
  std::string at_byte(std::size_t base) const;
};

/// nlohmann's name of a value's type with its article, for messages about files attn-diff writes
/// ("a number", "an array", "null").
std::string json_type_with_article(const nlohmann::json& v);

/// Parses `text` as one JSON value. Refuses, as a JsonError: a NUL byte anywhere, nesting deeper
/// than `max_depth`, malformed JSON (nlohmann's message), a number past a double, and an object
/// that holds the same key twice (compared after unescaping, at any depth).
std::optional<nlohmann::json> parse_json_strict(std::string_view text, JsonError* err,
                                                int max_depth = kMaxJsonDepth);

}  // namespace attn
