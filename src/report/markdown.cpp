// Markdown summary (src/report/formats.hpp): short enough for a pull-request comment or a CI step
// summary, failing cases first with the reason, passing cases folded in a <details> block.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "src/judge/diagnosis.hpp"
#include "src/judge/localisation.hpp"
#include "src/report/baseline.hpp"
#include "src/report/formats.hpp"

namespace attn {

using nlohmann::json;

namespace {

// Report text is data, never markup: the longest a cell or name gets (a PR comment is limited to
// 64 KiB; the candidate's stderr tail would fill it), cut on a UTF-8 boundary.
constexpr std::size_t kMaxText = 300;

// Appends `s` cut at kMaxText bytes, with `put` deciding what each byte becomes (it sees the
// next byte too).
template <class Put>
std::string cut(std::string_view s, Put&& put) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (i >= kMaxText && (c & 0xC0) != 0x80) return out + "…";
    if (c < 0x20 || c == 0x7F) out += ' ';  // a newline would end the table row
    else put(out, char(c), i + 1 < s.size() ? s[i + 1] : ' ');
  }
  return out;
}

// Plain text: every ASCII punctuation mark that can open markup (an image, a link, raw HTML, an
// entity, emphasis, a code span, a cell border) backslash-escaped, and '@' followed by U+200B so
// the comment mentions nobody. A backslash is itself escaped only before punctuation, where
// Markdown would read it as an escape ("\xFF" stays as it is).
std::string text(std::string_view s) {
  return cut(s, [](std::string& out, char c, char next) {
    if (c == '@') {
      out += "@\u200B";
      return;
    }
    const bool punct_next = std::ispunct(static_cast<unsigned char>(next)) != 0;
    if (std::string_view("`*_[]()<>!|~&#").find(c) != std::string_view::npos || (c == '\\' && punct_next)) out += '\\';
    out += c;
  });
}

// A code span that holds `s` literally: fenced by one backtick more than its longest run of
// backticks, padded when it starts or ends with one. In a table '|' is escaped even inside it.
std::string code(std::string_view s, bool in_table = true) {
  std::size_t run = 0, longest = 0;
  for (char c : s) longest = std::max(longest, run = c == '`' ? run + 1 : 0);
  const std::string fence(longest + 1, '`');
  std::string body = cut(s, [in_table](std::string& out, char c, char) {
    if (c == '|' && in_table) out += '\\';
    out += c;
  });
  if (body.empty() || body.front() == '`' || body.back() == '`' || body.front() == ' ') body = " " + body + " ";
  return fence + body + fence;
}

std::string num(const json& x) { return x.is_number() ? fmt::format("{:.2e}", x.get<double>()) : std::string("-"); }

std::string change(const json& c, const char* key) {
  if (!c.contains("baseline")) return "new";
  return format_change(c.at("baseline").value(key, json()));
}

std::string row(const json& c, bool baseline) {
  const json m = c.contains("metrics") ? c.at("metrics").at("vs_golden") : json::object();
  const json e = c.value("explained", json::object());
  std::string reason;
  if (c.value("verdict", "") == "fail" && !c.value("failures", json::array()).empty())
    reason = text(c.at("failures")[0].get<std::string>());
  else if (c.contains("error"))
    reason = text(c.at("error").get<std::string>());
  if (c.contains("diagnosis") && !c.at("diagnosis").value("hypotheses", json::array()).empty())
    reason += " — " + diagnosis_verdict_of_case(c).text([](const std::string& name) { return code(name); });
  const std::string verdict = c.value("verdict", "");
  const char* mark = verdict == "pass" ? "✅" : verdict == "fail" ? "❌" : verdict == "error" ? "💥" : "➖";
  std::string r = fmt::format("| {} {} | {} | {} | {} | {} |", mark, verdict, code(c.value("name", "")),
                              num(m.value("max_abs", json())), num(e.value("naive_max_abs", json())),
                              num(m.value("mae", json())));
  if (baseline) r += fmt::format(" {} | {} |", change(c, "max_abs_change"), change(c, "mae_change"));
  return r + fmt::format(" {} |\n", reason);
}

std::string table(const std::vector<const json*>& cases, bool baseline) {
  std::string out = "| verdict | case | max_abs | naive max | mae |";
  out += baseline ? " Δmax_abs | Δmae |" : "";
  out += " reason |\n|---|---|---|---|---|";
  out += baseline ? "---|---|" : "";
  out += "---|\n";
  for (const json* c : cases) out += row(*c, baseline);
  return out;
}

}  // namespace

std::string render_markdown(const json& report) {
  const json& s = report.at("summary");
  const bool incomplete = s.value("incomplete", false);
  const bool ok = s.value("failed", 0) == 0 && s.value("errors", 0) == 0 && !incomplete;
  std::string out = fmt::format("### {} attn-diff {}: {}{} cases, {} passed, {} failed", ok ? "✅" : "❌",
                                code(report.value("suite", ""), false), incomplete ? "INCOMPLETE, " : "",
                                s.value("cases", 0), s.value("passed", 0), s.value("failed", 0));
  if (s.value("errors", 0)) out += fmt::format(", {} errors", s.value("errors", 0));
  if (s.value("unsupported", 0)) out += fmt::format(", {} unsupported", s.value("unsupported", 0));
  out += "\n\n";
  if (s.value("incomplete", false))
    out += fmt::format("**Interrupted**: {} selected cases were not run.\n\n", s.value("not_run", 0));
  const bool baseline = report.contains("baseline");
  std::vector<const json*> bad, good;
  for (const json& c : report.at("cases")) (c.value("verdict", "") == "pass" ? good : bad).push_back(&c);
  if (!bad.empty()) out += table(bad, baseline) + "\n";
  std::string where;  // where each failure's error is, in words (src/judge/localisation.hpp)
  for (const json* c : bad)
    for (const std::string& l : localisation_lines(*c)) where += fmt::format("- {}: {}\n", code(c->value("name", ""), false), text(l));
  if (!where.empty()) out += "Where the error is:\n\n" + where + "\n";
  if (!good.empty()) {
    if (bad.empty()) out += table(good, baseline) + "\n";
    else out += fmt::format("<details><summary>{} passing cases</summary>\n\n{}\n</details>\n\n", good.size(), table(good, baseline));
  }
  if (baseline) {
    const json& b = report.at("baseline");
    for (const char* key : {"new", "vanished"}) {
      const json& names = b.value(key, json::array());
      if (names.empty()) continue;
      std::vector<std::string> quoted;
      for (const json& n : names) quoted.push_back(code(n.get<std::string>(), false));
      out += fmt::format("{} since the baseline: {}\n\n", std::string(key) == "new" ? "New cases" : "Vanished cases",
                         fmt::join(quoted, ", "));
    }
  }
  out += "max_abs and mae against golden (float64); naive max: the error of the eager same-precision reference, "
         "what the precision explains.\n";
  return out;
}

}  // namespace attn
