// Errors as values: a message that reads like a compiler's, naming the file, the case and the key.
//   configs/phase1.json: case 'sinks': error: unknown key 'windw' (did you mean 'window'?)
//   note: ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace attn {

struct Diagnostic {
  std::string file;     // the file the problem is in ("" when it is not about a file)
  std::string where;    // "case 'sinks'", "defaults", "" for the whole file
  std::string message;  // starts lower-case, names the key in quotes
  std::string note;     // optional hint

  std::string format() const;
};

using Diagnostics = std::vector<Diagnostic>;

/// Prints every diagnostic to stderr.
void print_diagnostics(const Diagnostics& diags);

/// Text from a file or a command's output made safe to print on a terminal and to put in a JSON
/// report (which must be UTF-8): C0 control characters (tab and newline too), DEL and every byte
/// that is not part of well-formed UTF-8 become \xNN, C1 control characters (U+0080..U+009F)
/// \u00NN; other UTF-8 is kept. With ascii_only every byte >= 0x80 becomes \xNN.
std::string printable(std::string_view text, bool ascii_only = false);

/// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
/// character (bytes that are not UTF-8 are cut anywhere; printable() escapes them).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

/// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace attn
