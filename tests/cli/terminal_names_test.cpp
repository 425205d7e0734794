// What reaches the terminal (issue #13): printable() is the one escaping function, case and suite
// names that would act on a terminal or hide what they say are refused, and config file names (a
// path can hold anything) are escaped wherever they are printed and in the JSON report.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "tests/cli_helpers.hpp"

using attn::printable;
using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

const std::string kCase = R"({"name": "a", "tokens": 4, "heads": 2, "head_dim": 4})";

// No byte a terminal acts on: C0 controls, DEL, and the UTF-8 of C1 controls (C2 80..C2 9F).
bool terminal_safe(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if ((u < 0x20 && u != '\n') || u == 0x7F) return false;
    if (u == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("terminal: printable escapes controls, bidi and zero-width characters and non-UTF-8 bytes", "[terminal]") {
  CHECK(printable("plain ascii, ü ï ✓ 日本") == "plain ascii, ü ï ✓ 日本");
  CHECK(printable("a\x1b[2Jb\x07\x7f") == "a\\x1B[2Jb\\x07\\x7F");
  CHECK(printable("csi\xc2\x9b" "2J") == "csi\\u009B2J");  // U+009B
  CHECK(printable("nel\xc2\x85") == "nel\\u0085");
  CHECK(printable("nbsp\xc2\xa0ok") == "nbsp\xc2\xa0ok");  // U+00A0 is printable
  CHECK(printable("rlo\xe2\x80\xae" "x") == "rlo\\u202Ex");  // U+202E
  CHECK(printable("lri\xe2\x81\xa6" "x\xe2\x81\xa9") == "lri\\u2066x\\u2069");
  CHECK(printable("zw\xe2\x80\x8b" "sp\xef\xbb\xbf") == "zw\\u200Bsp\\uFEFF");
  CHECK(printable("ls\xe2\x80\xa8") == "ls\\u2028");
  CHECK(printable("raw\x9b" "csi") == "raw\\x9Bcsi");  // a lone C1 byte: 8-bit CSI
  CHECK(printable("cut\xe2\x80") == "cut\\xE2\\x80");
  CHECK(printable("overlong\xc0\xaf") == "overlong\\xC0\\xAF");
  CHECK(printable("surrogate\xed\xa0\x80") == "surrogate\\xED\\xA0\\x80");
  CHECK(printable("ü", /*ascii_only=*/true) == "\\xC3\\xBC");
  for (const std::string s : {"a\xff\xc2\x9b\xe2\x80", "\xf4\x90\x80\x80", "\xc2"}) CHECK_NOTHROW(nlohmann::json(printable(s)).dump());
  CHECK(attn::has_unprintable("x\xc2\x9b"));
  CHECK_FALSE(attn::has_unprintable("fine ü ✓"));
}

TEST_CASE("terminal: config file names are escaped wherever they are printed", "[terminal][cli]") {
  TempDir dir("terminal_paths");
  // A valid suite, an invalid one and a malformed one, each under a name holding a terminal escape.
  const std::string ok = dir.file("ok\x1b]0;pwned\x07.json", "{\"cases\": [" + kCase + "]}");
  const std::string bad = dir.file("bad\x1b[2J.json", R"({"cases": [{"name": "a", "tokens": 0, "heads": 2, "head_dim": 4}]})");
  const std::string broken = dir.file("broken\xc2\x9b" "2J.json", "{\"cases\": ");
  const std::string quoted_ok = "'" + ok + "'", quoted_bad = "'" + bad + "'", quoted_broken = "'" + broken + "'";

  auto r = run_cli("validate -c " + quoted_ok);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("ok\\x1B]0;pwned\\x07.json: ok, 1 cases"));
  CHECK(terminal_safe(r.out));
  // Without a "suite" key the suite is named after the file: the summary line shows it escaped.
  r = run_cli("run -c " + quoted_ok + " -q");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("ok\\x1B]0;pwned\\x07.json: 1 cases, 1 passed"));
  CHECK(terminal_safe(r.out));
  r = run_cli("run -c " + quoted_ok + " --case nope");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("pwned\\x07.json: error: no case matches --case nope"));
  CHECK(terminal_safe(r.out));
  r = run_cli("dump -c " + quoted_ok + " --case 'n\x1bpe' --out " + (dir.path / "d").string());
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("pwned\\x07.json: error: no case named 'n\\x1Bpe'"));
  CHECK(terminal_safe(r.out));

  r = run_cli("validate -c " + quoted_bad);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("bad\\x1B[2J.json: case 'a': error: key 'tokens' must be at least 1, got 0"));
  CHECK(terminal_safe(r.out));
  r = run_cli("validate -c " + quoted_broken);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("broken\\u009B2J.json:1:11: error: malformed JSON"));
  CHECK(terminal_safe(r.out));
}

TEST_CASE("terminal: a config path that is not UTF-8 goes into the JSON report escaped", "[terminal][cli]") {
  TempDir dir("terminal_utf8");
  const std::string config = dir.file("p\xff.json", "{\"suite\": \"s\", \"cases\": [" + kCase + "]}");
  const std::string report = (dir.path / "r.json").string();
  // The report writer used to throw on the path (nlohmann refuses invalid UTF-8): abort, exit 134.
  auto r = run_cli("run -c '" + config + "' -q --json " + report + " --baseline '" + config + "'");
  INFO(r.out);
  CHECK(r.code == 2);  // a suite file is not a report: refused as a baseline, nothing written
  CHECK(terminal_safe(r.out));
  CHECK_FALSE(std::filesystem::exists(report));
  r = run_cli("run -c '" + config + "' -q --json " + report);
  CHECK(r.code == 0);
  const auto doc = nlohmann::json::parse(read_text(report));
  CHECK(doc.at("config").get<std::string>().ends_with("p\\xFF.json"));
  // As a baseline too: its file name is in the report.
  const std::string base = dir.file("b\xfe.json", read_text(report));
  const std::string report2 = (dir.path / "r2.json").string();
  r = run_cli("run -c '" + config + "' -q --json " + report2 + " --baseline '" + base + "'");
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(read_text(report2)).at("baseline").at("file").get<std::string>().ends_with("b\\xFE.json"));
}
