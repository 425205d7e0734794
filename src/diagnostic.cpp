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

std::string printable(std::string_view text, bool ascii_only) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || (ascii_only && u >= 0x80)) out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
    else out += c;
  }
  return out;
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
