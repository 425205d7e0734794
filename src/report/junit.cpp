// JUnit XML (src/report/formats.hpp). The attributes are the ones the common readers use:
// testsuites/testsuite carry tests, failures, errors, skipped and time; testcase carries name,
// classname and time; failure carries a one-line message and the full text.
#include <fmt/format.h>

#include <map>

#include "src/judge/diagnosis.hpp"
#include "src/judge/localisation.hpp"
#include "src/report/formats.hpp"

namespace attn {

using nlohmann::json;

namespace {

std::string attr(const std::string& s) { return escape_markup(s); }

std::string case_text(const json& c) {
  std::string text;
  for (const json& f : c.value("failures", json::array())) text += f.get<std::string>() + "\n";
  for (const std::string& l : localisation_lines(c)) text += "where: " + l + "\n";  // src/judge/localisation.hpp
  if (c.contains("metrics")) {
    const json& m = c.at("metrics").at("vs_golden");
    const json& e = c.value("explained", json::object());
    auto num = [](const json& x) { return x.is_number() ? fmt::format("{:.3g}", x.get<double>()) : std::string("-"); };
    text += fmt::format("max_abs {} at {} (naive {}, correct tiled {}), mae {}, pearson {}, pass_rate {:.4f}\n",
                        num(m.value("max_abs", json())), m.value("max_abs_index", json()).dump(),
                        num(e.value("naive_max_abs", json())), num(e.value("tiled_max_abs", json())),
                        num(m.value("mae", json())), num(m.value("pearson", json())), m.value("pass_rate", 0.0));
  }
  if (c.contains("diagnosis") && !c.at("diagnosis").value("hypotheses", json::array()).empty()) {
    const DiagnosisVerdict v = diagnosis_verdict_of_case(c);
    std::string evidence;  // why the explaining hypothesis fits
    for (const json& h : c.at("diagnosis").at("hypotheses"))
      if (v.explained() && h.value("name", "") == v.explained_by) evidence = " (" + h.value("evidence", "") + ")";
    text += v.text() + evidence + "\n";
  }
  return text;
}

}  // namespace

std::string render_junit(const json& report) {
  // Cases keep their order within a suite; suites appear in the order of their first case.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const json*>> by_suite;
  for (const json& c : report.at("cases")) {
    const std::string suite = c.value("suite", report.value("suite", std::string("attn-diff")));
    if (!by_suite.count(suite)) order.push_back(suite);
    by_suite[suite].push_back(&c);
  }
  const json& s = report.at("summary");
  const bool incomplete = s.value("incomplete", false);
  if (incomplete && order.empty()) order.push_back(report.value("suite", std::string("attn-diff")));
  double total_time = 0;
  for (const json& c : report.at("cases")) total_time += c.value("seconds", 0.0);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"attn-diff\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                     s.value("cases", 0) + (incomplete ? int(order.size()) : 0), s.value("failed", 0),
                     s.value("errors", 0) + (incomplete ? int(order.size()) : 0), s.value("unsupported", 0), total_time);
  for (const std::string& suite : order) {
    const auto& cases = by_suite[suite];
    int failures = 0, errors = 0, skipped = 0;
    double time = 0;
    for (const json* c : cases) {
      const std::string v = c->value("verdict", "");
      failures += v == "fail", errors += v == "error", skipped += v == "unsupported";
      time += c->value("seconds", 0.0);
    }
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                       attr(suite), cases.size() + incomplete, failures, errors + incomplete, skipped, time);
    out += fmt::format("    <properties>\n      <property name=\"config\" value=\"{}\"/>\n",
                       attr(report.value("config", std::string())));
    if (report.contains("shard")) out += fmt::format("      <property name=\"shard\" value=\"{}\"/>\n", attr(report.value("shard", "")));
    if (incomplete) out += "      <property name=\"incomplete\" value=\"true\"/>\n";
    out += "    </properties>\n";
    if (incomplete)  // a reader that counts testcases must not see an interrupted run as green
      out += fmt::format("    <testcase name=\"interrupted\" classname=\"attn-diff.{0}\" time=\"0.000\">\n"
                         "      <error message=\"the run was interrupted: {1} selected cases were not run\" type=\"incomplete\">"
                         "the report covers only the cases finished before the signal</error>\n    </testcase>\n",
                         attr(suite), s.value("not_run", std::int64_t(0)));
    for (const json* c : cases) {
      const std::string name = c->value("name", ""), verdict = c->value("verdict", "");
      out += fmt::format("    <testcase name=\"{}\" classname=\"attn-diff.{}\" time=\"{:.3f}\"", attr(name), attr(suite),
                         c->value("seconds", 0.0));
      if (verdict == "pass") {
        out += "/>\n";
        continue;
      }
      out += ">\n";
      if (verdict == "fail") {
        const json& f = c->value("failures", json::array());
        const std::string message = f.empty() ? "failed" : f[0].get<std::string>();
        out += fmt::format("      <failure message=\"{}\" type=\"{}\">{}</failure>\n", attr(message),
                           attr(c->value("kernel", "")), escape_markup(case_text(*c)));
      } else if (verdict == "error") {
        out += fmt::format("      <error message=\"{}\" type=\"error\">{}</error>\n", attr(c->value("error", "")),
                           escape_markup(c->value("error", "")));
      } else {
        out += fmt::format("      <skipped message=\"{}\"/>\n", attr(c->value("error", verdict)));
      }
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  return out + "</testsuites>\n";
}

}  // namespace attn
