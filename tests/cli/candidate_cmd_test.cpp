// `--candidate-cmd` through the CLI (src/judge/external.hpp): a command that is empty or blank, a
// placeholder the user quoted (where a hostile case name would run as shell code), hostile case
// names in unquoted placeholders, a command whose output is not UTF-8 or drives the terminal, and
// --timeout values that cannot be a timeout.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

// `text` single-quoted for the shell that run_command() uses.
std::string sq(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A small suite whose case names are `names`.
std::string suite_of(const TempDir& dir, const std::vector<std::string>& names) {
  nlohmann::json cases = nlohmann::json::array();
  for (const std::string& n : names) cases.push_back({{"name", n}, {"tokens", 4}, {"heads", 1}, {"head_dim", 4}});
  return dir.file("suite.json", nlohmann::json{{"suite", "hostile"}, {"cases", cases}}.dump());
}

bool has_byte(const std::string& text, unsigned char b) { return text.find(char(b)) != std::string::npos; }

// A raw C1 control character, as UTF-8 (U+0080..U+009F: C2 80..C2 9F).
bool has_c1(const std::string& text) {
  for (std::size_t i = 0; i + 1 < text.size(); ++i)
    if ((unsigned char)text[i] == 0xC2 && (unsigned char)text[i + 1] >= 0x80 && (unsigned char)text[i + 1] < 0xA0)
      return true;
  return false;
}

}  // namespace

TEST_CASE("candidate-cmd: an empty or blank command is refused by run and shrink", "[external][cli]") {
  for (const std::string cmd : {"", " ", "  \t "}) {
    INFO("--candidate-cmd " << sq(cmd));
    auto r = run_cli("run -c configs/phase1.json --case basic --candidate-cmd " + sq(cmd));
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: --candidate-cmd is empty"));
    CHECK_THAT(r.out, Contains("note:"));
    CHECK_THAT(r.out, !Contains("1 passed"));  // it used to judge the built-in kernel and pass
    r = run_cli("shrink -c configs/phase1.json --case basic --candidate-cmd " + sq(cmd));
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: --candidate-cmd is empty"));
    // With --mutant as well: still refused, not a shrink of the mutant.
    r = run_cli("shrink -c configs/phase1.json --case basic --mutant no_scale --candidate-cmd " + sq(cmd));
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: --candidate-cmd is empty"));
  }
}

TEST_CASE("candidate-cmd: a quoted placeholder is refused before anything runs", "[external][cli]") {
  TempDir dir("candidate_cmd_quoted");
  const std::string mark = (dir.path / "MARK").string(), ran = (dir.path / "RAN").string();
  const std::string suite = suite_of(dir, {"$(touch " + mark + ")", "a`touch " + mark + "`"});
  struct Bad {
    std::string cmd, where;
  };
  const std::vector<Bad> bad = {
      {"echo \"{case}\"", "inside double quotes"},
      {"echo '{case}'", "inside single quotes"},
      {"echo \"case: {case}, out: {out}\"", "inside double quotes"},
      {"echo {inputs} '{out}'", "placeholder {out} stands inside single quotes"},
      {"echo \\{case}", "right after a backslash"},
      {"echo ${case}", "right after a '$'"},
      {"echo $(echo {case})", "inside a $(...) substitution"},
      {"echo `echo {case}`", "inside a `...` substitution"},
      {"sh -c \"k {inputs} {out}\"", "inside double quotes"},
      {"echo {out} # {case}", "in a comment"},
      {"cat <<EOF\n{case}\nEOF", "in a here-document"},
      {"echo \"$(echo x)\" {case}", "after a substitution opened inside quotes"},
  };
  for (const Bad& b : bad) {
    const std::string cmd = "touch " + ran + "; " + b.cmd + "; exit 1";
    INFO(cmd);
    for (const std::string command : {"run -c " + suite, "shrink -c " + suite + " --case '$(*'"}) {
      const auto r = run_cli(command + " --candidate-cmd " + sq(cmd));
      INFO(r.out);
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Contains("error: --candidate-cmd: the placeholder {"));
      CHECK_THAT(r.out, Contains(b.where));
      CHECK_THAT(r.out, Contains("note: write {"));
      CHECK_THAT(r.out, Contains("\"$ATTN_DIFF_"));
      CHECK_FALSE(fs::exists(mark));
      CHECK_FALSE(fs::exists(ran));  // refused at the start: the command never ran
    }
  }
}

TEST_CASE("candidate-cmd: hostile case names reach the command as one plain word and run nothing", "[external][cli]") {
  TempDir dir("candidate_cmd_hostile");
  const std::string mark = (dir.path / "MARK").string();
  const std::vector<std::string> names = {"$(touch " + mark + ")",  "`touch " + mark + "`", "x;touch " + mark,
                                          "q'$(touch " + mark + ")'", "d\"$(touch " + mark + ")\"", "two words",
                                          "pipe|touch " + mark,       "amp&&touch " + mark,    "star*", "dollar$HOME"};
  const std::string suite = suite_of(dir, names);
  const std::string got = (dir.path / "got").string(), env = (dir.path / "env").string();
  // Unquoted placeholders (and "$ATTN_DIFF_CASE", the other documented way) are the safe forms.
  const std::string cmd = "printf '%s\\n' {case} >> " + got + "; printf '%s\\n' \"$ATTN_DIFF_CASE\" >> " + env +
                          "; echo {out} {inputs} >/dev/null; exit 1";
  const auto r = run_cli("run -c " + suite + " -q --candidate-cmd " + sq(cmd));
  INFO(r.out);
  CHECK(r.code == 3);  // every case is an error (exit 1), none passed or was skipped
  CHECK_FALSE(fs::exists(mark));
  std::string expected;
  for (const std::string& n : names) expected += n + "\n";
  CHECK(read_text(got) == expected);  // each name arrived whole, as one argument
  CHECK(read_text(env) == expected);
}

TEST_CASE("candidate-cmd: output that is not UTF-8 or holds terminal escapes is escaped in every report", "[external][cli]") {
  TempDir dir("candidate_cmd_output");
  const std::string json = (dir.path / "r.json").string(), junit = (dir.path / "r.xml").string(),
                    md = (dir.path / "r.md").string(), html = (dir.path / "r.html").string();
  const std::string reports = " --json " + json + " --junit " + junit + " --md " + md + " --html " + html;
  // An invalid byte, a character cut by the 400-byte line limit (399 digits then 'é' = C3 A9), a
  // colour escape, an OSC title escape ended by BEL, a C1 CSI (C2 9B), DEL, and a CR.
  const std::string cmd = R"(printf 'bad \377\376 end\n'; printf '%0399d\303\251tail\n' 0; )"
                          R"(printf '\033[31mRED \033]0;title\007 \302\233X \177 a\rb\n'; exit 1)";
  const auto r = run_cli("run -c configs/phase1.json --case basic --no-diagnose" + reports + " --candidate-cmd " + sq(cmd));
  INFO(r.out);
  CHECK(r.code == 3);  // the case is an error; it used to abort (134) on writing the JSON report
  CHECK_THAT(r.out, Contains("bad \\xFF\\xFE end"));
  CHECK_THAT(r.out, Contains("\\x1B[31mRED \\x1B]0;title\\x07 \\u009BX \\x7F a\\x0Db"));
  CHECK_FALSE(has_byte(r.out, 0x1B));
  CHECK_FALSE(has_byte(r.out, 0x07));
  CHECK_FALSE(has_byte(r.out, 0x7F));
  CHECK_FALSE(has_byte(r.out, 0xFF));
  CHECK_FALSE(has_c1(r.out));
  CHECK_THAT(r.out, Contains(std::string(399, '0') + "..."));  // cut before the 'é', not inside it

  const std::string text = read_text(json);
  REQUIRE_FALSE(text.empty());
  const auto j = nlohmann::json::parse(text);  // throws on invalid UTF-8
  const std::string error = j["cases"][0]["error"];
  CHECK_THAT(error, Contains("bad \\xFF\\xFE end"));
  CHECK_THAT(error, Contains("\\x1B[31mRED"));
  CHECK_THAT(error, Contains(std::string(399, '0') + "..."));
  for (const std::string& f : {junit, md, html}) {
    INFO(f);
    const std::string t = read_text(f);
    // Markdown escapes a backslash only before punctuation, so the comment shows the same \\xFF.
    CHECK_THAT(t, Contains("bad \\xFF\\xFE end"));
    CHECK_FALSE(has_byte(t, 0x1B));
    CHECK_FALSE(has_byte(t, 0xFF));
    CHECK_FALSE(has_c1(t));
  }

  // shrink --json: the original's error message is in the report.
  const std::string sj = (dir.path / "shrink.json").string();
  const auto s = run_cli("shrink -c configs/phase1.json --case basic -q --json " + sj + " --candidate-cmd " + sq(cmd));
  INFO(s.out);
  CHECK(s.code == 3);  // the candidate failed to run on the original case
  CHECK_FALSE(has_byte(s.out, 0x1B));
  const auto sjson = nlohmann::json::parse(read_text(sj));
  CHECK(sjson["status"] == "candidate-error");
  CHECK_THAT(sjson["message"].get<std::string>(), Contains("bad \\xFF\\xFE end"));
}

TEST_CASE("candidate-cmd: --timeout must be a number of seconds > 0 and at most a week", "[external][cli]") {
  for (const std::string t : {"nan", "NaN", "inf", "-inf", "1e10", "604801", "0", "-1", "ten"}) {
    INFO("--timeout " << t);
    for (const std::string command : {"run -c configs/phase1.json --case basic", "shrink -c configs/phase1.json --case basic"}) {
      const auto r = run_cli(command + " --timeout " + t + " --candidate-cmd 'touch /nonexistent-dir/x; exit 1'");
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Contains("--timeout"));
      CHECK_THAT(r.out, Contains("must be a number of seconds"));
    }
  }
  // The largest accepted: the command runs (and fails at once, so the case is an error).
  const auto r = run_cli("run -c configs/phase1.json --case basic -q --timeout 604800 --candidate-cmd 'exit 1'");
  CHECK(r.code == 3);
}
