// The report writers besides the JSON report and the table: JUnit XML for CI test reporters,
// Markdown for a pull-request comment, one self-contained HTML file for people. Each renders the
// JSON report v1 (src/report/report.hpp) and nothing else, so `run` and `merge` give the same files.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace attn {

/// `<testsuites><testsuite><testcase><failure>` as GitLab, Jenkins and GitHub reporters read it:
/// one testsuite per suite, one testcase per case with its time, a `<failure>` holding the
/// mismatch summary for a failed case, `<error>` for an error, `<skipped>` for unsupported. An
/// incomplete (interrupted) report gets one more testcase per suite, `interrupted`, holding an
/// `<error>`, so no reader shows it green.
std::string render_junit(const nlohmann::json& report);

/// A compact summary: a headline with the verdict, the failing cases with their reasons, and the
/// passing ones folded away. Text from the report (names, reasons, the candidate's output) cannot
/// become markup: names go in code spans fenced longer than any backtick run in them, other text
/// has Markdown punctuation backslash-escaped, '@' broken by U+200B (no mention), and is cut at
/// 300 bytes per cell.
std::string render_markdown(const nlohmann::json& report);

/// One HTML page with no external resource (a Content-Security-Policy forbids any): a summary
/// table, then one `<section class="case">` per case, failing cases first.
std::string render_html(const nlohmann::json& report);

/// Text made safe inside XML/HTML content and attribute values: & < > " ' escaped; what XML 1.0
/// forbids (control characters but tab, LF and CR; U+FFFE, U+FFFF) and bytes that are not valid
/// UTF-8 replaced by U+FFFD, so the result is always well-formed XML character data.
std::string escape_markup(std::string_view text);

}  // namespace attn
