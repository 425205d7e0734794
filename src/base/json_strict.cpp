#include "src/base/json_strict.hpp"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <vector>

#include "src/base/diagnostic.hpp"

namespace attn {

using nlohmann::json;

namespace {

// Runs on text nlohmann has already accepted, so the structure is known to be valid: a string is
// an object's key exactly when it is the first token after '{' or after a ',' inside an object.
std::optional<JsonError> find_duplicate_key(std::string_view s) {
  struct Frame {
    bool object = false;
    bool want_key = false;
    std::map<std::string, std::size_t, std::less<>> keys;  // unescaped key -> offset of its '"'
  };
  std::vector<Frame> stack;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      const std::size_t start = i;
      bool escaped = false;
      for (++i; i < s.size() && s[i] != '"'; ++i)
        if (s[i] == '\\') escaped = true, ++i;  // the escaped character cannot end the string
      if (stack.empty() || !stack.back().object || !stack.back().want_key) continue;
      stack.back().want_key = false;
      // "a" and "\u0061" are the same key: unescape through the parser that accepted the text.
      std::string key = escaped ? json::parse(s.substr(start, i - start + 1)).get<std::string>()
                                : std::string(s.substr(start + 1, i - start - 1));
      const auto [it, inserted] = stack.back().keys.emplace(std::move(key), start);
      if (!inserted)
        return JsonError{.at = text_position(s, start), .first = text_position(s, it->second),
                         .message = fmt::format("duplicate key '{}'", printable(it->first)),
                         .note = "JSON readers disagree on which of the two counts: give each key once",
                         .malformed = false};
    } else if (c == '{' || c == '[') {
      stack.push_back({.object = c == '{', .want_key = c == '{'});
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
    } else if (c == ',' && !stack.empty() && stack.back().object) {
      stack.back().want_key = true;
    }
  }
  return std::nullopt;
}

}  // namespace

TextPosition text_position(std::string_view text, std::size_t offset) {
  TextPosition p{.offset = offset};
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++p.line, p.column = 1;
    else ++p.column;
  }
  return p;
}

std::string JsonError::what() const {
  std::string s = (malformed ? "malformed JSON: " : "") + message;
  if (first) s += fmt::format(" (first at {}:{})", first->line, first->column);
  return s;
}

std::string JsonError::format(const std::string& file) const {
  std::string s = fmt::format("{}:{}:{}: error: {}", printable(file), at.line, at.column, what());
  if (!note.empty()) s += "\nnote: " + note;
  return s;
}

std::string JsonError::at_byte(std::size_t base) const {
  std::string s = fmt::format("{} at byte {}", message, base + at.offset);
  if (first) s += fmt::format(" (first at byte {})", base + first->offset);
  return s;
}

std::optional<json> parse_json_strict(std::string_view text, JsonError* err, int max_depth) {
  auto fail = [&](std::size_t offset, std::string message, std::string note = "") {
    *err = JsonError{.at = text_position(text, offset), .message = std::move(message), .note = std::move(note)};
    return std::nullopt;
  };
  // nlohmann's lexer takes a NUL byte for the end of the input and ignores the rest.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    return fail(nul, "NUL byte", "JSON text never holds one; everything after it would be ignored");
  if (const std::size_t deep = json_too_deep(text, max_depth); deep != std::string_view::npos)
    return fail(deep, fmt::format("nested deeper than {} levels", max_depth),
                "real files nest a few levels; deeper nesting would overflow the stack later");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    // The parser quotes the bytes it choked on, which need not be UTF-8. e.byte counts from 1.
    return fail(e.byte > 0 ? e.byte - 1 : 0, printable(what, /*ascii_only=*/true));
  } catch (const json::exception& e) {
    // A number past a double ("1e400") is an out_of_range error without a position (found by
    // tests/fuzz): point at the first occurrence of the token the message quotes.
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    std::size_t at = 0;
    if (auto q = what.find('\''); q != std::string::npos)
      if (auto r = what.find('\'', q + 1); r != std::string::npos)
        if (auto found = text.find(what.substr(q + 1, r - q - 1)); found != std::string_view::npos) at = found;
    return fail(at, printable(what, /*ascii_only=*/true),
                "JSON numbers must fit in a double (at most about 1.8e308)");
  }
  if (auto dup = find_duplicate_key(text)) {
    *err = std::move(*dup);
    return std::nullopt;
  }
  return doc;
}

std::string json_type_with_article(const nlohmann::json& v) {
  const std::string t = v.type_name();
  if (v.is_null()) return t;
  std::string out = std::strchr("aeiou", t[0]) ? "an " : "a ";
  out += t;
  return out;
}

}  // namespace attn
