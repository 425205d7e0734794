// Hostile text in the reports: case and suite names, and a candidate's output, are data in every
// format. Markdown (a pull-request comment) gets no image, link, raw HTML or mention from them;
// JUnit stays well-formed XML 1.0 whatever the names hold; HTML escapes them in text, attributes
// and around its one script.
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

const std::string kBadName = "a`` ![img](http://e.test/p.png) <img src=x onerror=alert(1)> @octocat [l](http://e.test) | x</script>";
const std::string kBadSuite = "s`uite ![i](http://e.test/s.png)";
// What the candidate prints on stderr; the error reason quotes its tail.
const std::string kBadOutput = "<img src=x onerror=alert(1)> ![a](http://e.test/x.png) @octocat ``` [l](http://x) &amp;";

// The text of a Markdown line outside its code spans (CommonMark: a run of n backticks closes at
// the next run of exactly n), with backslash-escaped punctuation replaced by '_': what Markdown
// would read as markup.
std::string outside_code(const std::string& line) {
  std::string out;
  for (std::size_t i = 0; i < line.size();) {
    if (line[i] == '\\' && i + 1 < line.size() && std::ispunct(static_cast<unsigned char>(line[i + 1]))) {
      out += '_';
      i += 2;
      continue;
    }
    if (line[i] != '`') {
      out += line[i++];
      continue;
    }
    std::size_t n = 0;
    while (i + n < line.size() && line[i + n] == '`') ++n;
    std::size_t close = i + n;
    for (;; ++close) {
      close = line.find('`', close);
      if (close == std::string::npos) break;
      std::size_t m = 0;
      while (close + m < line.size() && line[close + m] == '`') ++m;
      if (m == n) break;
      close += m;
    }
    if (close == std::string::npos) {  // no closing run: the backticks are literal
      out += std::string(n, '`');
      i += n;
    } else {
      out += "CODE";  // stands for the span; checked separately
      i = close + n;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("markdown: hostile names and candidate output cannot become markup in the comment", "[report_escaping][cli]") {
  TempDir dir("md_hostile");
  const json suite = {{"suite", kBadSuite},
                      {"defaults", {{"tokens", 4}, {"heads", 1}, {"head_dim", 4}}},
                      {"cases", {{{"name", kBadName}}, {{"name", "long"}}}}};
  const std::string cfg = dir.file("s.json", suite.dump()), md = dir.file("r.md");
  // The candidate fails every case, printing hostile text, and 2000 bytes on the 'long' case.
  const std::string script = dir.file("cand.sh", "printf '%s\\n' '" + kBadOutput +
                                                     "' >&2; [ \"$ATTN_DIFF_CASE\" = long ] && head -c 2000 /dev/zero | tr '\\0' x >&2; exit 1\n");
  const auto r = run_cli("run -q -c " + cfg + " --md " + md + " --candidate-cmd 'sh " + script + "'");
  INFO(r.out);
  REQUIRE(r.code == 3);
  const std::string m = read_text(md);
  INFO(m);
  // The names in code spans fenced longer than their backtick runs; the reason escaped.
  CHECK(m.find("### ❌ attn-diff ``" + kBadSuite + "``: 2 cases") == 0);
  CHECK(m.find("| ```a`` ![img](http://e.test/p.png) <img src=x onerror=alert(1)> @octocat [l](http://e.test) \\| x</script>``` |") !=
        std::string::npos);
  CHECK(m.find("\\<img src=x onerror=alert\\(1\\)\\> \\!\\[a\\]\\(http://e.test/x.png\\) @\u200Boctocat \\`\\`\\` \\[l\\]\\(http://x\\) \\&amp;") !=
        std::string::npos);
  // The candidate's 2000 bytes are cut: a reason cell holds at most 300 bytes of text.
  CHECK(m.find(std::string(100, 'x')) != std::string::npos);
  CHECK(m.find(std::string(400, 'x')) == std::string::npos);
  CHECK(m.find("x…") != std::string::npos);
  // Outside the code spans of the headline and the table rows, nothing opens markup.
  int rows = 0;
  for (std::size_t at = 0; at < m.size();) {
    const std::size_t end = m.find('\n', at);
    const std::string line = m.substr(at, end - at);
    at = end == std::string::npos ? m.size() : end + 1;
    if (!line.starts_with("| ") && !line.starts_with("###")) continue;
    ++rows;
    const std::string text = outside_code(line);
    INFO(line);
    INFO(text);
    for (const char* markup : {"<", ">", "[", "]", "!", "(", "&", "`"}) CHECK(text.find(markup) == std::string::npos);
    for (std::size_t a = text.find('@'); a != std::string::npos; a = text.find('@', a + 1))
      CHECK(text.compare(a + 1, 3, "\u200B") == 0);  // no mention
  }
  CHECK(rows == 4);  // the headline, the table head, two cases
}

TEST_CASE("junit: names with U+FFFE, U+FFFF, NUL and control characters still give valid XML", "[report_escaping][cli]") {
  TempDir dir("junit_invalid_chars");
  // Through run: the config accepts U+FFFE and U+FFFF in a name (they are valid UTF-8).
  const std::string cfg = dir.file("s.json", R"({ "suite": "s\uFFFF", "cases": [
    { "name": "bad\uFFFEname\uFFFF", "tokens": 4, "heads": 1, "head_dim": 4 } ] })");
  const std::string xml = dir.file("r.xml"), report = dir.file("r.json");
  REQUIRE(run_cli("run -q -c " + cfg + " --junit " + xml + " --json " + report).code == 0);
  CHECK(run_command("xmllint --noout " + xml).code == 0);
  const auto name = run_command("xmllint --xpath 'string(/testsuites/testsuite/testcase/@name)' " + xml);
  CHECK(name.out.find("bad\uFFFDname\uFFFD") == 0);  // replaced visibly, not dropped
  // Through merge: a report may hold what no config does (NUL, escape, bell) in names and texts.
  json j = json::parse(read_text(report));
  j["cases"][0]["name"] = std::string("nul") + '\0' + "esc\x1b[31mbell\x07";
  j["cases"][0]["verdict"] = "error";
  j["cases"][0]["error"] = "out\x01put \uFFFE";
  j["summary"]["passed"] = 0;
  j["summary"]["errors"] = 1;
  const std::string edited = dir.file("e.json", j.dump()), xml2 = dir.file("m.xml");
  const auto m = run_cli("merge " + edited + " --junit " + xml2);
  INFO(m.out);
  CHECK(m.code == 3);
  CHECK(m.out.find("nul\\x00esc\\x1B[31mbell\\x07: error: out\\x01put") != std::string::npos);  // the terminal sees no control byte
  CHECK(run_command("xmllint --noout " + xml2).code == 0);
  CHECK(attn::escape_markup("\xEF\xBF\xBE|\xEF\xBF\xBF") == "\xEF\xBF\xBD|\xEF\xBF\xBD");
  CHECK(attn::escape_markup("\xEF\xBF\xBD") == "\xEF\xBF\xBD");  // U+FFFD itself is fine
}

TEST_CASE("html: hostile names are escaped in text, attributes, the title and around the script", "[report_escaping][cli]") {
  TempDir dir("html_hostile");
  const json suite = {{"suite", "</title><script>alert(1)</script>"},
                      {"cases", {{{"name", kBadName + "\" onmouseover=\"alert(2)"}, {"tokens", 4}, {"heads", 1}, {"head_dim", 4}}}}};
  const std::string cfg = dir.file("s.json", suite.dump()), html = dir.file("r.html");
  REQUIRE(run_cli("run -q -c " + cfg + " --mutant window_off_by_one --html " + html).code != 2);
  const std::string h = read_text(html);
  CHECK(h.find("<title>attn-diff &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;: ") != std::string::npos);
  CHECK(h.find("<img") == std::string::npos);
  CHECK(h.find("onmouseover=\"") == std::string::npos);
  CHECK(h.find("&quot; onmouseover=&quot;alert(2)") != std::string::npos);
  // One <script> and one </script>: the page's own.
  CHECK(h.find("<script") == h.rfind("<script"));
  CHECK(h.find("</script>") == h.rfind("</script>"));
  CHECK(h.find("x&lt;/script&gt;") != std::string::npos);
}
