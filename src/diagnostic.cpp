#include "src/diagnostic.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace attn {

std::string Diagnostic::format() const {
  std::string s;
  if (!file.empty()) s += file + ": ";
  if (!where.empty()) s += where + ": ";
  s += "error: " + message;
  if (!note.empty()) s += "\nnote: " + note;
  return s;
}

void print_diagnostics(const Diagnostics& diags) {
  for (const Diagnostic& d : diags) std::fprintf(stderr, "%s\n", d.format().c_str());
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
