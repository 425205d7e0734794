// escape_markup (src/report/formats.hpp): shared by the JUnit and HTML writers.
#include <cstdint>

#include "src/report/formats.hpp"

namespace attn {

std::string escape_markup(std::string_view text) {
  static const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
          if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += kReplacement;
          else if (c == 0x7F) out += kReplacement;
          else out += char(c);
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: lead byte, length, and continuation bytes; overlong forms, surrogates and
    // code points past U+10FFFF are invalid.
    const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    bool ok = len > 0 && i + std::size_t(len) <= text.size();
    std::uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + std::size_t(k)]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && !(len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF));
    if (ok && (cp == 0xFFFE || cp == 0xFFFF)) {  // valid UTF-8, but not characters XML 1.0 allows
      out += kReplacement;
      i += std::size_t(len);
    } else if (ok) {
      out.append(text.substr(i, std::size_t(len)));
      i += std::size_t(len);
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

}  // namespace attn
