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


/// Text from outside (a file's content, a command's output, a path, a case name) made safe to
/// print on a terminal and to put in a JSON report (which must be UTF-8). The one escaping
/// function: everything that prints such text uses it.
///   - C0 controls (tab and newline too), DEL and bytes that are not well-formed UTF-8 become
///     \xNN (with ascii_only, every byte >= 0x80 does: for text that need not be UTF-8 at all);
///   - C1 controls (U+0080..U+009F), bidi embeddings, overrides, isolates and marks (U+061C,
///     U+200E/F, U+202A..U+202E, U+2066..U+2069), zero-width characters (U+200B..U+200D, U+2060..,
///     U+FEFF) and the line and paragraph separators U+2028/9 become \uXXXX;
///   - everything else (printable ASCII, other UTF-8) is kept as it is.
/// The result is always valid UTF-8.
std::string printable(std::string_view text, bool ascii_only = false);

/// True when printable() would change `text`: what case and suite names must not hold.
bool has_unprintable(std::string_view text);

/// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
/// character (bytes that are not UTF-8 are cut anywhere; printable() escapes them).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

/// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace attn
