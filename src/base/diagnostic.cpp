#include "src/base/diagnostic.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace attn {

std::string Diagnostic::format() const {
  // Messages quote keys from the file, which may hold control characters (a terminal escape).
  std::string s;
  if (!file.empty()) s += printable(file) + ": ";  // a path can hold anything
  if (!where.empty()) s += printable(where) + ": ";
  s += "error: " + printable(message);
  if (!note.empty()) s += "\nnote: " + printable(note);
  return s;
}

namespace {

// The length of the UTF-8 sequence starting at text[i] and its code point, or 0 when the bytes
// there are not UTF-8 (a stray continuation byte, a truncated, overlong or surrogate sequence).
std::size_t decode_utf8(std::string_view text, std::size_t i, char32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  char32_t v = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

// Characters a terminal acts on or that make text read differently from what it is: C1 controls
// (U+009B is CSI on terminals that take 8-bit controls), bidi embeddings, overrides and isolates
// (CVE-2021-42574, "Trojan Source"), zero-width characters and the line and paragraph separators.
bool unsafe_code_point(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

}  // namespace

std::string printable(std::string_view text, bool ascii_only) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    char32_t cp = 0;
    const std::size_t n = u < 0x80 ? 1 : decode_utf8(text, i, &cp);
    if (u < 0x20 || u == 0x7F || (u >= 0x80 && (ascii_only || n == 0))) {
      out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
      ++i;
    } else if (n > 1 && unsafe_code_point(cp)) {
      out += fmt::format("\\u{:04X}", static_cast<std::uint32_t>(cp));
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool has_unprintable(std::string_view text) { return printable(text) != text; }

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // Back up over the continuation bytes of a character that would be split (at most three).
  for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++k) --cut;
  if ((static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut = max_bytes;  // not UTF-8 there anyway
  return text.substr(0, cut);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    // A known name that starts with the word ("bf16" for "bf16-mixed") counts as a near miss.
    const std::size_t d = word.size() >= 2 && c.starts_with(word) ? 1 : edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

}  // namespace attn
