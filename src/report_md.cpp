// Markdown summary (src/report_formats.hpp): short enough for a pull-request comment or a CI step
// summary, failing cases first with the reason, passing cases folded in a <details> block.
#include <fmt/format.h>

#include <algorithm>

#include "src/baseline.hpp"
#include "src/report_formats.hpp"

namespace attn {

using nlohmann::json;

namespace {

// A table cell: '|' would end the cell and a newline the row.
std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
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
    reason = c.at("failures")[0].get<std::string>();
  else if (c.contains("error"))
    reason = c.at("error").get<std::string>();
  if (c.contains("diagnosis") && !c.at("diagnosis").at("hypotheses").empty())
    reason += fmt::format(" — most likely `{}`", c.at("diagnosis").at("hypotheses")[0].value("name", ""));
  const std::string verdict = c.value("verdict", "");
  const char* mark = verdict == "pass" ? "✅" : verdict == "fail" ? "❌" : verdict == "error" ? "💥" : "➖";
  std::string r = fmt::format("| {} {} | `{}` | {} | {} | {} |", mark, verdict, cell(c.value("name", "")),
                              num(m.value("max_abs", json())), num(e.value("naive_max_abs", json())),
                              num(m.value("mae", json())));
  if (baseline) r += fmt::format(" {} | {} |", change(c, "max_abs_change"), change(c, "mae_change"));
  return r + fmt::format(" {} |\n", cell(reason));
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
  const bool ok = s.value("failed", 0) == 0 && s.value("errors", 0) == 0 && !s.value("incomplete", false);
  std::string out = fmt::format("### {} attn-diff `{}`: {} cases, {} passed, {} failed", ok ? "✅" : "❌",
                                cell(report.value("suite", "")), s.value("cases", 0), s.value("passed", 0),
                                s.value("failed", 0));
  if (s.value("errors", 0)) out += fmt::format(", {} errors", s.value("errors", 0));
  if (s.value("unsupported", 0)) out += fmt::format(", {} unsupported", s.value("unsupported", 0));
  out += "\n\n";
  if (s.value("incomplete", false))
    out += fmt::format("**Interrupted**: {} selected cases were not run.\n\n", s.value("not_run", 0));
  const bool baseline = report.contains("baseline");
  std::vector<const json*> bad, good;
  for (const json& c : report.at("cases")) (c.value("verdict", "") == "pass" ? good : bad).push_back(&c);
  if (!bad.empty()) out += table(bad, baseline) + "\n";
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
      for (const json& n : names) quoted.push_back(fmt::format("`{}`", cell(n.get<std::string>())));
      out += fmt::format("{} since the baseline: {}\n\n", std::string(key) == "new" ? "New cases" : "Vanished cases",
                         fmt::join(quoted, ", "));
    }
  }
  out += "max_abs and mae against golden (float64); naive max: the error of the eager same-precision reference, "
         "what the precision explains.\n";
  return out;
}

}  // namespace attn
