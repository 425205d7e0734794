// Ctrl-C during a run (src/base/interrupt.hpp): parallel_for stops between tasks, and `attn-diff run`
// stops within a task's time, writes the reports of the finished cases marked incomplete, and
// exits 130. With --candidate-cmd, a signal (once or twice) stops the command at once, kills its
// process group and removes its temporary directory.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "src/base/parallel.hpp"
#include "src/cli/signals.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::TempDir;

TEST_CASE("interrupt: parallel_for throws Interrupted before the next task", "[interrupt]") {
  for (int threads : {1, 3}) {
    std::atomic<int> ran{0};
    CHECK_THROWS_AS(parallel_for(1000, threads,
                                 [&](std::int64_t t) {
                                   ++ran;
                                   if (t == 5) request_interrupt(SIGINT);
                                 }),
                    Interrupted);
    CHECK(ran < 1000);
    {
      const InterruptScope scope;  // clears the flag on the way in and out
      CHECK_FALSE(interrupted());
    }
    CHECK_FALSE(interrupted());
    ran = 0;
    parallel_for(1000, threads, [&](std::int64_t) { ++ran; });
    CHECK(ran == 1000);
  }
}

namespace {

struct Interrupted_run {
  int code = -1;         // exit code, or -signal when killed
  double seconds = 0.0;  // from the (first) signal to the exit
  pid_t group = 0;       // stop_candidate_run: the candidate command's process group (its shell's pid)
  std::string output;
};

// Starts `attn-diff ARGS...` (attn::test::start_cli), with TMPDIR=tmp when tmp is not empty.
pid_t start_cli(const std::vector<std::string>& args, const std::string& log, const std::string& tmp = "") {
  std::vector<std::pair<std::string, std::string>> env;
  if (!tmp.empty()) env.emplace_back("TMPDIR", tmp);
  const pid_t pid = attn::test::start_cli(args, env, log);
  REQUIRE(pid >= 0);
  return pid;
}

// Waits up to `limit` after `sent` for `pid` to exit (then kills it); fills r's code, seconds and output.
void wait_exit(pid_t pid, std::chrono::steady_clock::time_point sent, std::chrono::seconds limit,
               const std::string& log, Interrupted_run* r) {
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() - sent > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  std::ifstream in(log);
  r->output.assign(std::istreambuf_iterator<char>(in), {});
}

// Starts `attn-diff ARGS...`, sends SIGINT after `delay`, and waits up to `limit` for it to exit.
Interrupted_run interrupt_run(const std::vector<std::string>& args, const std::string& log,
                              std::chrono::milliseconds delay, std::chrono::seconds limit) {
  const pid_t pid = start_cli(args, log);
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGINT);
  Interrupted_run r;
  wait_exit(pid, std::chrono::steady_clock::now(), limit, log, &r);
  return r;
}

}  // namespace

TEST_CASE("interrupt: Ctrl-C stops a long run promptly, writes an incomplete report, exits 130", "[interrupt][cli]") {
  TempDir dir("interrupt");
  // "a couple of seconds" on an idle machine; the margin is for a loaded CI box or a sanitizer build.
  const auto limit = std::chrono::seconds(8);

  SECTION("phase4: interrupted inside its first case") {
    const std::string json = (dir.path / "report.json").string(), xml = (dir.path / "r.xml").string(),
                      md = (dir.path / "r.md").string(), html = (dir.path / "r.html").string();
    const auto r = interrupt_run({"run", "-c", "configs/phase4.json", "--threads", "2", "--json", json, "--junit", xml, "--md",
                                  md, "--html", html},
                                 (dir.path / "log.txt").string(), std::chrono::milliseconds(1000), limit);
    INFO(r.output);
    CHECK(r.code == 130);
    CHECK(r.seconds < 5.0);
    CHECK(r.output.find("interrupted: 0 of 6 cases run") != std::string::npos);
    // No report looks green: the summary line, JUnit, the HTML title and the Markdown headline.
    CHECK(r.output.find("phase4: 0 cases, 0 passed, 0 failed, INCOMPLETE: interrupted, 6 cases not run") != std::string::npos);
    CHECK(attn::test::read_text(xml).find("tests=\"1\" failures=\"0\" errors=\"1\"") != std::string::npos);
    CHECK(attn::test::run_command("xmllint --noout " + xml).code == 0);
    CHECK(attn::test::read_text(html).find("<title>attn-diff phase4: INCOMPLETE</title>") != std::string::npos);
    CHECK(attn::test::read_text(md).find("### ❌ attn-diff `phase4`: INCOMPLETE, 0 cases") == 0);
    std::ifstream in(json);
    REQUIRE(in);
    const auto j = nlohmann::json::parse(in);
    CHECK(j["summary"]["incomplete"] == true);
    CHECK(j["summary"]["cases"] == 0);
    CHECK(j["summary"]["not_run"] == 6);
  }

  SECTION("a finished case is reported, the interrupted one and the rest are not") {
    const std::string suite = dir.file("suite.json", R"({ "cases": [
      { "name": "small", "tokens": 8, "heads": 2, "head_dim": 16 },
      { "name": "big", "tokens": 4096, "heads": 64, "kv_heads": 8, "head_dim": 64, "causal": false },
      { "name": "after", "tokens": 8, "heads": 2, "head_dim": 16 } ] })");
    const std::string json = (dir.path / "report.json").string();
    const auto r = interrupt_run({"run", "-c", suite, "--threads", "1", "--json", json}, (dir.path / "log.txt").string(),
                                 std::chrono::milliseconds(1000), limit);
    INFO(r.output);
    CHECK(r.code == 130);
    CHECK(r.seconds < 5.0);
    std::ifstream in(json);
    REQUIRE(in);
    const auto j = nlohmann::json::parse(in);
    CHECK(j["summary"]["incomplete"] == true);
    CHECK(j["summary"]["not_run"] == 2);
    REQUIRE(j["cases"].size() == 1);
    CHECK(j["cases"][0]["name"] == "small");
    CHECK(j["cases"][0]["verdict"] == "pass");
    CHECK(r.output.find("small") != std::string::npos);  // the table shows what was done
  }
}

TEST_CASE("interrupt: a run that is not interrupted says complete", "[interrupt][cli]") {
  TempDir dir("interrupt_complete");
  const std::string json = (dir.path / "report.json").string();
  REQUIRE(attn::test::run_cli("run -c configs/phase1.json --json " + json).code == 0);
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  CHECK(j["summary"]["incomplete"] == false);
  CHECK(j["summary"]["not_run"] == 0);
}

namespace {

// True while a process of group `pgid` is alive (a zombie is not: in a container PID 1 may never
// reap the orphans we killed).
bool group_alive(pid_t pgid) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') return true;
  }
  return false;
}

// Starts `attn-diff ARGS...` with TMPDIR=tmp, waits until the candidate command has written its
// shell's pid to `pid_file`, then sends `signals` 200 ms apart and waits up to 20 s for the exit.
Interrupted_run stop_candidate_run(const std::vector<std::string>& args, const std::string& tmp,
                                   const std::string& pid_file, const std::string& log, const std::vector<int>& signals) {
  const pid_t pid = start_cli(args, log, tmp);
  Interrupted_run r;
  for (int i = 0; i < 1000 && r.group <= 0; ++i) {  // up to 20 s for the case to start
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ifstream in(pid_file);
    in >> r.group;
  }
  const auto sent = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < signals.size(); ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ::kill(pid, signals[i]);
  }
  wait_exit(pid, sent, std::chrono::seconds(20), log, &r);
  return r;
}

}  // namespace

TEST_CASE("interrupt: a signal stops a --candidate-cmd at once, kills its group, removes its files", "[interrupt][cli]") {
  struct Way {
    const char* name;
    std::vector<int> signals;
    int code;
  };
  // The command ignores SIGTERM (as its children do), so one signal costs the 1 s grace period
  // before SIGKILL and a second one skips it; either way the whole group dies.
  const std::vector<Way> ways = {{"SIGINT", {SIGINT}, 130}, {"SIGTERM", {SIGTERM}, 143},
                                 {"SIGINT twice", {SIGINT, SIGINT}, 130}, {"SIGTERM then SIGINT", {SIGTERM, SIGINT}, 143}};
  for (const Way& way : ways) {
    for (const bool shrink : {false, true}) {
      INFO(way.name << (shrink ? " during shrink" : " during run"));
      TempDir dir(std::string("interrupt_cmd_") + (shrink ? "shrink" : "run"));
      const std::string tmp = (dir.path / "tmp").string(), pid_file = (dir.path / "pid").string(),
                        json = (dir.path / "report.json").string();
      std::filesystem::create_directories(tmp);
      const std::string cmd = "trap '' TERM; echo $$ > " + pid_file + ".new; mv " + pid_file + ".new " + pid_file +
                              "; sleep 30 & sleep 30; wait";
      std::vector<std::string> args = {shrink ? "shrink" : "run", "-c", "configs/phase1.json", "--case", shrink ? "basic" : "b*",
                                       "--candidate-cmd", cmd, "--json", json};
      const Interrupted_run r = stop_candidate_run(args, tmp, pid_file, (dir.path / "log.txt").string(), way.signals);
      INFO(r.output);
      REQUIRE(r.group > 0);
      CHECK(r.code == way.code);
      CHECK(r.seconds < 10.0);  // not the 30 s of the command, nor the 300 s default --timeout
      for (int i = 0; i < 100 && group_alive(r.group); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CHECK_FALSE(group_alive(r.group));
      CHECK(std::filesystem::is_empty(tmp));  // the case's attn-diff-XXXXXX folder is gone
      if (shrink) {
        CHECK_FALSE(std::filesystem::exists(json));  // a reduction cut short writes nothing
        CHECK(r.output.find("interrupted: shrink stopped; nothing written") != std::string::npos);
        continue;
      }
      std::ifstream in(json);
      REQUIRE(in);
      const auto j = nlohmann::json::parse(in);
      CHECK(j["summary"]["incomplete"] == true);
      CHECK(j["summary"]["cases"] == 0);
      CHECK(j["summary"]["not_run"] == 2);  // basic and basic_small_tiles
      CHECK(r.output.find("interrupted: 0 of 2 cases run") != std::string::npos);
    }
  }
}

TEST_CASE("interrupt: a signal stops every --candidate-jobs command at once", "[interrupt][cli][jobs]") {
  TempDir dir("interrupt_jobs");
  const std::string tmp = (dir.path / "tmp").string(), pids = (dir.path / "pids").string(),
                    ready = (dir.path / "ready").string(), json = (dir.path / "report.json").string();
  std::filesystem::create_directories(tmp);
  std::filesystem::create_directories(pids);
  // Each command writes its shell's pid, and the second to start says both are running.
  const std::string cmd = "trap '' TERM; echo $$ > " + pids + "/$ATTN_DIFF_CASE; if [ $(ls " + pids +
                          " | wc -l) -ge 2 ]; then echo $$ > " + ready + ".new; mv " + ready + ".new " + ready +
                          "; fi; sleep 30 & sleep 30; wait";
  const Interrupted_run r = stop_candidate_run({"run", "-c", "configs/phase1.json", "--case", "b*", "--candidate-jobs", "2",
                                                "--candidate-cmd", cmd, "--json", json},
                                               tmp, ready, (dir.path / "log.txt").string(), {SIGINT});
  INFO(r.output);
  REQUIRE(r.group > 0);
  CHECK(r.code == 130);
  CHECK(r.seconds < 10.0);
  std::vector<pid_t> groups;
  for (const auto& e : std::filesystem::directory_iterator(pids)) {
    pid_t g = 0;
    std::ifstream(e.path()) >> g;
    groups.push_back(g);
  }
  REQUIRE(groups.size() == 2);
  for (pid_t g : groups) {
    for (int i = 0; i < 100 && group_alive(g); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK_FALSE(group_alive(g));
  }
  CHECK(std::filesystem::is_empty(tmp));
  const auto j = nlohmann::json::parse(std::ifstream(json));
  CHECK(j["summary"]["incomplete"] == true);
  CHECK(j["summary"]["cases"] == 0);
  CHECK(j["summary"]["not_run"] == 2);
}
