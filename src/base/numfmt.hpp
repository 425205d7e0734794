// Numbers in messages that compare a value with a bound ("gate min_pass_rate: 0.99896 < 0.999"): a
// fixed precision printed `0.999 < 0.999` for a pass rate of 0.99896, a line that shows a failure and
// hides its reason. Every gate failure line (the failures list that the table, compare, JUnit and
// Markdown print, and the HTML gate table) formats its two numbers here.
#pragma once

#include <string>
#include <utility>

namespace attn {

/// The fewest significant digits a message uses for a number (the gate lines used 4 before).
inline constexpr int kMinMessageDigits = 4;

/// `value` and `bound` in `{:.Ng}` form with the smallest N from kMinMessageDigits to 17 at which
/// the two texts differ, so that a reader sees which is larger: (0.99896, 0.999) gives "0.99896" and
/// "0.999", (2.031, 0.04249) "2.031" and "0.04249". Numbers that are equal (the same double, or two
/// NaNs) are printed with kMinMessageDigits. Rounding both to the same number of digits is monotonic,
/// so the texts never order the other way round from the numbers.
std::pair<std::string, std::string> distinct_digits(double value, double bound);

/// "VALUE OP BOUND" with distinct_digits(): comparison_text(0.99896, "<", 0.999) is "0.99896 < 0.999".
std::string comparison_text(double value, const char* op, double bound);

}  // namespace attn
