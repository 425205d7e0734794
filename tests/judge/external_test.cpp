// Running an external command: exit status, signals, the last lines of its output, the environment,
// placeholders, and a timeout that kills the command's whole process group.
#include "src/judge/external.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

// A process is gone when kill(pid, 0) fails, or it is a zombie nobody has reaped yet (in a
// container PID 1 may never reap the orphans we killed).
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

TEST_CASE("external: exit status and the last lines of stdout and stderr", "[external]") {
  CommandResult r = run_shell_command("echo out1; echo err1 >&2; echo out2; exit 0", {});
  CHECK(r.ok());
  CHECK(r.tail == std::vector<std::string>{"out1", "err1", "out2"});
  r = run_shell_command("for i in $(seq 1 100); do echo line $i >&2; done; exit 7", {.tail_lines = 3});
  CHECK_FALSE(r.ok());
  CHECK(r.exited);
  CHECK(r.exit_code == 7);
  CHECK(r.tail == std::vector<std::string>{"line 98", "line 99", "line 100"});
  CHECK(r.describe(10) == "exited with status 7");
  r = run_shell_command("kill -SEGV $$", {});
  CHECK(r.signal == SIGSEGV);
  CHECK_THAT(r.describe(10), Contains("was killed by signal 11"));
  r = run_shell_command("exec /nonexistent/program", {});
  CHECK(r.exit_code == 127);
  CHECK_THAT(r.tail.at(0), Contains("nonexistent"));
}

TEST_CASE("external: the environment carries the placeholders' values", "[external]") {
  const CommandResult r = run_shell_command("echo \"$ATTN_DIFF_CASE|$ATTN_DIFF_OUT\"; echo $HOME",
                                            {.env = {{"ATTN_DIFF_CASE", "sinks"}, {"ATTN_DIFF_OUT", "/tmp/o.npy"}}});
  REQUIRE(r.tail.size() == 2);
  CHECK(r.tail[0] == "sinks|/tmp/o.npy");
  CHECK(r.tail[1] == std::getenv("HOME"));  // the rest of the environment is inherited
}

TEST_CASE("external: placeholders, quoted only when a shell would split them", "[external]") {
  const std::vector<std::pair<std::string, std::string>> v = {{"inputs", "/tmp/attn-diff-x/inputs"}, {"out", "/tmp/a b/out.npy"},
                                                              {"case", "it's"}};
  std::string cmd, err;
  REQUIRE(expand_command("k {inputs} {out} --case {case} {other}", v, &cmd, &err));
  CHECK(cmd == "k /tmp/attn-diff-x/inputs '/tmp/a b/out.npy' --case 'it'\\''s' {other}");
  REQUIRE(expand_command("printf '%s\\n' {out} {case}", v, &cmd, &err));
  const CommandResult r = run_shell_command(cmd, {});
  CHECK(r.tail == std::vector<std::string>{"/tmp/a b/out.npy", "it's"});
  // Quoted, the value's own quotes would not protect it: refused, and *out is left alone.
  CHECK_FALSE(expand_command("echo \"{case}\"", v, &cmd, &err));
  CHECK_THAT(err, Contains("{case} stands inside double quotes"));
  // Placeholders in quotes that end before them, in a subshell or an assignment are unquoted.
  REQUIRE(expand_command("echo 'a' \"b\" {case} (echo {out}) X={case} $(nproc) {inputs}", v, &cmd, &err));
  CHECK(cmd == "echo 'a' \"b\" 'it'\\''s' (echo '/tmp/a b/out.npy') X='it'\\''s' $(nproc) /tmp/attn-diff-x/inputs");
}

TEST_CASE("external: a timeout kills the whole process group, grandchildren included", "[external]") {
  TempDir dir("external_timeout");
  const std::string pids = dir.file("pids");
  const auto start = std::chrono::steady_clock::now();
  const CommandResult r = run_shell_command(
      "sleep 100 & echo $! > " + pids + "; echo started; trap '' TERM; sleep 100", {.timeout_s = 0.5, .kill_grace_s = 0.3});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(r.timed_out);
  CHECK_FALSE(r.ok());
  CHECK(seconds < 5);
  CHECK(r.tail == std::vector<std::string>{"started"});
  CHECK_THAT(r.describe(0.5), Contains("did not finish within 0.5 s and was killed with its process group"));
  std::ifstream in(pids);
  pid_t grandchild = 0;
  in >> grandchild;
  REQUIRE(grandchild > 0);
  for (int i = 0; i < 100 && !gone(grandchild); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(gone(grandchild));
}

TEST_CASE("external: a background process left behind does not hold the case open", "[external]") {
  TempDir dir("external_background");
  const std::string pids = dir.file("pids");
  const auto start = std::chrono::steady_clock::now();
  const CommandResult r = run_shell_command("sleep 100 & echo $! > " + pids + "; echo done", {.timeout_s = 20});
  CHECK(r.ok());
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 5);
  std::ifstream in(pids);
  pid_t background = 0;
  in >> background;
  REQUIRE(background > 0);
  for (int i = 0; i < 100 && !gone(background); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(gone(background));
}
