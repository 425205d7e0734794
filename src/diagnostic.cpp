#include "src/diagnostic.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace attn {

std::string Diagnostic::format() const {
  // Messages quote keys from the file, which may hold control characters (a terminal escape).
  std::string s;
  if (!file.empty()) s += file + ": ";
  if (!where.empty()) s += printable(where) + ": ";
  s += "error: " + printable(message);
  if (!note.empty()) s += "\nnote: " + printable(note);
  return s;
}

void print_diagnostics(const Diagnostics& diags) {
  for (const Diagnostic& d : diags) std::fprintf(stderr, "%s\n", d.format().c_str());
}

namespace {

// The length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), 0 when the bytes there are not one.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
  const unsigned char u = at(0);
  const auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return at(k) >= lo && at(k) <= hi;
  };
  if (u >= 0xC2 && u <= 0xDF) return cont(1) ? 2 : 0;
  if (u >= 0xE0 && u <= 0xEF) {
    const bool second = u == 0xE0 ? cont(1, 0xA0) : u == 0xED ? cont(1, 0x80, 0x9F) : cont(1);
    return second && cont(2) ? 3 : 0;
  }
  if (u >= 0xF0 && u <= 0xF4) {
    const bool second = u == 0xF0 ? cont(1, 0x90) : u == 0xF4 ? cont(1, 0x80, 0x8F) : cont(1);
    return second && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::string printable(std::string_view text, bool ascii_only) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  const auto escape = [&](unsigned char u) { out += {'\\', 'x', hex[u >> 4], hex[u & 15]}; };
  for (std::size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7F) {
      escape(u), ++i;
    } else if (u < 0x80) {
      out += text[i++];
    } else if (const std::size_t n = ascii_only ? 0 : utf8_length(text, i); n == 0) {
      escape(u), ++i;  // not UTF-8: the byte itself, visibly
    } else if (n == 2 && u == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      // A C1 control U+0080..U+009F (U+009B is CSI on terminals that take 8-bit controls).
      out += {'\\', 'u', '0', '0', hex[static_cast<unsigned char>(text[i + 1]) >> 4], hex[text[i + 1] & 15]}, i += 2;
    } else {
      out += text.substr(i, n), i += n;
    }
  }
  return out;
}

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
