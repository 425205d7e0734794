// The HTML report as a browser shows it: headless Chromium loads the page of a failing mutant run,
// runs its script without an error or a blocked resource, finds one section per case, and takes a
// screenshot. Built as its own executable, labelled html_render (ctest -L html_render).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("html: Chromium renders the report of a failing run, one section per case", "[html_render]") {
  TempDir dir("html_render");
  const auto html = dir.file("report.html"), report = dir.file("r.json"), png = dir.file("shot.png");
  REQUIRE(run_cli("run -c configs/phase1.json --mutant window_off_by_one --html " + html + " --json " + report).code == 1);
  const auto j = nlohmann::json::parse(read_text(report));
  const std::size_t cases = j["cases"].size();

  const auto dom = run_command("bash scripts/headless_chromium.sh dom '" + html + "'");
  INFO(dom.out.substr(0, 2000));
  REQUIRE(dom.code == 0);
  CHECK(dom.out.find("data-rendered=\"ok\"") != std::string::npos);          // the inline script ran
  CHECK(dom.out.find("data-cases=\"" + std::to_string(cases) + "\"") != std::string::npos);
  CHECK(dom.out.find("data-error") == std::string::npos);                    // no script error
  CHECK(count(dom.out, "<section class=\"case") == cases);
  CHECK(count(dom.out, "<svg") >= 3 * std::size_t(j["summary"]["passed"].get<int>() + j["summary"]["failed"].get<int>()));
  // The console (Chromium logs it to stderr as "INFO:CONSOLE"): the page writes nothing there, so
  // any line is an uncaught error or a resource the Content-Security-Policy blocked.
  for (const char* bad : {":CONSOLE", "Uncaught", "violates"}) CHECK(dom.out.find(bad) == std::string::npos);

  const auto shot = run_command("bash scripts/headless_chromium.sh screenshot '" + html + "' '" + png + "'");
  INFO(shot.out);
  REQUIRE(shot.code == 0);
  const std::string bytes = read_text(png);
  CHECK(bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
  CHECK(bytes.size() > 20000);  // a blank page compresses to a few kB
}
