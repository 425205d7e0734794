#include "src/base/numfmt.hpp"

#include <fmt/format.h>

namespace attn {

std::pair<std::string, std::string> distinct_digits(double value, double bound) {
  std::pair<std::string, std::string> first;
  for (int digits = kMinMessageDigits; digits <= 17; ++digits) {
    std::pair<std::string, std::string> s{fmt::format("{:.{}g}", value, digits), fmt::format("{:.{}g}", bound, digits)};
    if (s.first != s.second) return s;
    if (digits == kMinMessageDigits) first = std::move(s);
  }
  return first;  // 17 digits tell every two doubles apart: these are equal
}

std::string comparison_text(double value, const char* op, double bound) {
  const auto [v, b] = distinct_digits(value, bound);
  return fmt::format("{} {} {}", v, op, b);
}

}  // namespace attn
