// The terminal table: one row per case, then a one-line summary.
#pragma once

#include <string>

#include "src/report/report.hpp"

namespace attn {

/// Short description of a case's shape, e.g. "1x8/8x4/4x64".
std::string shape_label(const Shape& s);
/// Short description of a case's features, e.g. "causal w4 sinks gqa8 off16".
std::string features_label(const CaseSpec& c);

/// The table, then render_case_lines.
std::string render_table(const RunReport& r, bool color);
/// The lines under the table (what --quiet keeps of it, without `recipe_notes`): each failing
/// case's failed gates and where its error is, each error or unsupported case's reason, the
/// baseline's new and vanished cases, and the recipes' notes.
std::string render_case_lines(const RunReport& r, bool recipe_notes);
std::string render_summary(const RunReport& r, bool color, double seconds);

}  // namespace attn
