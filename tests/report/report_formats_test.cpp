// JUnit, Markdown and HTML reports through the CLI. The JUnit file is read back by a real XML
// parser (xmllint, Debian's libxml2-utils, which scripts/test.sh installs), never by matching
// strings; the HTML render in Chromium is tests/cli/html_render_test.cpp.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "src/report/formats.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;
using nlohmann::json;

namespace {

// An XPath 1.0 expression evaluated by xmllint on the file; its result as text.
std::string xpath(const std::string& file, const std::string& expr) {
  const auto r = run_command("xmllint --xpath \"" + expr + "\" '" + file + "'");
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("junit: a real XML parser reads one testcase per case and the failures", "[report_formats]") {
  TempDir dir("junit");
  const auto xml = dir.file("junit.xml"), report = dir.file("r.json");
  const auto run = run_cli("run -c configs/phase1.json --mutant window_off_by_one --junit " + xml + " --json " + report);
  INFO(run.out);
  REQUIRE(run.code == 1);
  REQUIRE(run_command("xmllint --noout '" + xml + "'").code == 0);
  const json j = json::parse(read_text(report));
  const int failed = j["summary"]["failed"];
  REQUIRE(failed > 0);
  CHECK(xpath(xml, "count(/testsuites/testsuite/testcase)") == std::to_string(j["cases"].size()));
  CHECK(xpath(xml, "string(/testsuites/@tests)") == std::to_string(j["cases"].size()));
  CHECK(xpath(xml, "string(/testsuites/@failures)") == std::to_string(failed));
  CHECK(xpath(xml, "count(/testsuites/testsuite/testcase/failure)") == std::to_string(failed));
  CHECK(xpath(xml, "string(/testsuites/testsuite/@name)") == "phase1");
  for (const json& c : j["cases"]) {
    const std::string name = c["name"];
    const std::string at = "/testsuites/testsuite/testcase[@name='" + name + "']";
    CHECK(xpath(xml, "count(" + at + ")") == "1");
    CHECK(std::stod(xpath(xml, "string(" + at + "/@time)")) >= 0.0);
    if (c["verdict"] == "fail") {
      CHECK(xpath(xml, "string(" + at + "/failure/@message)") == c["failures"][0].get<std::string>());
      CHECK(xpath(xml, "string(" + at + "/failure)").find("max_abs") != std::string::npos);  // the mismatch summary
    } else {
      CHECK(xpath(xml, "count(" + at + "/*)") == "0");
    }
  }
}

TEST_CASE("junit: names with markup characters survive a real parser", "[report_formats]") {
  TempDir dir("junit_escape");
  const std::string name = "a<b>&\\\"c'd";  // JSON-escaped quote
  const auto cfg = dir.file("s.json", R"({ "suite": "s&<x>", "cases": [ { "name": ")" + name +
                                          R"(", "tokens": 4, "heads": 1, "head_dim": 4 } ] })");
  const auto xml = dir.file("j.xml");
  REQUIRE(run_cli("run -c " + cfg + " --junit " + xml).code == 0);
  CHECK(xpath(xml, "string(/testsuites/testsuite/@name)") == "s&<x>");
  // The name read back by the parser is the name in the config; compare without shell quoting.
  const auto r = run_command("xmllint --xpath 'string(/testsuites/testsuite/testcase/@name)' '" + xml + "'");
  CHECK(r.out.substr(0, r.out.find_last_not_of('\n') + 1) == "a<b>&\"c'd");
}

TEST_CASE("escape_markup: markup characters, control bytes and invalid UTF-8", "[report_formats]") {
  CHECK(attn::escape_markup("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;");
  CHECK(attn::escape_markup("x\x01y") == "x\xEF\xBF\xBDy");
  CHECK(attn::escape_markup("\xC3\xA9") == "\xC3\xA9");          // é stays
  CHECK(attn::escape_markup("\xC3") == "\xEF\xBF\xBD");           // truncated sequence
  CHECK(attn::escape_markup("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  CHECK(attn::escape_markup("tab\tnl\n") == "tab\tnl\n");
}

TEST_CASE("markdown and html: failing cases first, one section per case, nothing external", "[report_formats]") {
  TempDir dir("md_html");
  const auto md = dir.file("s.md"), html = dir.file("r.html"), report = dir.file("r.json");
  REQUIRE(run_cli("run -c configs/phase1.json --mutant window_off_by_one --md " + md + " --html " + html + " --json " +
                  report).code == 1);
  const json j = json::parse(read_text(report));
  const int cases = int(j["cases"].size()), failed = j["summary"]["failed"];
  const std::string m = read_text(md);
  CHECK(m.rfind("### ❌ attn-diff `phase1`", 0) == 0);
  CHECK(m.find("<details><summary>" + std::to_string(cases - failed) + " passing cases</summary>") != std::string::npos);
  for (const json& c : j["cases"])
    if (c["verdict"] == "fail") CHECK(m.find("`" + c["name"].get<std::string>() + "`") < m.find("<details>"));

  const std::string h = read_text(html);
  std::size_t sections = 0, first_fail = std::string::npos, first_pass = std::string::npos;
  for (std::size_t at = h.find("<section class=\"case"); at != std::string::npos; at = h.find("<section class=\"case", at + 1)) {
    ++sections;
    if (h.compare(at, 34, "<section class=\"case verdict-fail\"") == 0) first_fail = std::min(first_fail, at);
    if (h.compare(at, 34, "<section class=\"case verdict-pass\"") == 0) first_pass = std::min(first_pass, at);
  }
  CHECK(sections == std::size_t(cases));
  CHECK(first_fail < first_pass);
  CHECK(h.find("Content-Security-Policy") != std::string::npos);
  for (const char* external : {"<link", "<script src", "src=\"http", "href=\"http", "url(http", "@import"})
    CHECK(h.find(external) == std::string::npos);
}

TEST_CASE("reports: a bad output path exits 2 before running and leaves nothing", "[report_formats]") {
  TempDir dir("bad_out");
  for (const char* opt : {"--junit", "--md", "--html", "--json"}) {
    const auto r = run_cli(std::string("run -c configs/phase1.json ") + opt + " " + (dir.path / "missing" / "x").string());
    CHECK(r.code == 2);
    CHECK(r.out.find("cannot write (No such file or directory) (" + std::string(opt) + ")") != std::string::npos);
    CHECK(r.out.find("cases,") == std::string::npos);  // nothing ran
    CHECK(run_cli(std::string("run -c configs/phase1.json ") + opt + " " + dir.path.string()).code == 2);
  }
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), {}) == 0);
}
