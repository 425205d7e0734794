// The terminal table: one row per case, then a one-line summary.
#pragma once

#include <string>

#include "src/report.hpp"

namespace attn {

/// Short description of a case's shape, e.g. "1x8/8x4/4x64".
std::string shape_label(const Shape& s);
/// Short description of a case's features, e.g. "causal w4 sinks gqa8 off16".
std::string features_label(const CaseSpec& c);

std::string render_table(const RunReport& r, bool color);
std::string render_summary(const RunReport& r, bool color, double seconds);

}  // namespace attn
