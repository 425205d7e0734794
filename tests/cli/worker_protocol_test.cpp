// --candidate-worker end to end (SPEC §13, docs/workers.md): attn-diff drives a fake worker
// (tests/data/workers/fake_worker.py, which copies the dump's tiled.npy, so a served case passes
// by construction) that crashes, hangs, prints garbage, declines, errs or exits early on one case.
// Each test checks the verdicts, that the other cases still ran, how often the worker was started,
// and that no process (the worker nor the child it leaves in its group) and no temporary
// directory is left behind.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::CliResult;
using attn::test::TempDir;
using nlohmann::json;

namespace {

const std::string kWorker = "/usr/bin/python3 tests/data/workers/fake_worker.py";
// Three cases of phase1, in this order: basic, causal, sinks.
const std::string kThree = "-c configs/phase1.json --case basic --case causal --case sinks";

// True while process `pid` runs (a zombie does not: in a container nobody may reap an orphan).
bool alive(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

struct WorkerRun {
  CliResult cli;
  json report;        // --json
  int starts = 0;     // how many times the worker was started
  std::vector<long> pids;  // the workers' and their children's
};

// One test's folder: TMPDIR for attn-diff, the pid file the worker appends to, the report.
struct Scene {
  TempDir dir;
  std::string tmp, pids, json_file;
  explicit Scene(const std::string& name)
      : dir("worker_" + name), tmp((dir.path / "tmp").string()), pids((dir.path / "pids").string()),
        json_file((dir.path / "report.json").string()) {
    std::filesystem::create_directories(tmp);
  }

  std::string env() const { return "TMPDIR='" + tmp + "' WORKER_PIDS='" + pids + "' "; }

  void read_pids(WorkerRun* r) const {
    std::ifstream in(pids);
    std::string kind;
    long pid = 0;
    while (in >> kind >> pid) {
      r->pids.push_back(pid);
      r->starts += kind == "worker";
    }
  }

  // Runs `attn-diff run ARGS --candidate-worker 'kWorker MODE' --json FILE`.
  WorkerRun run(const std::string& mode, const std::string& args = kThree) const {
    WorkerRun r;
    r.cli = attn::test::run_command(env() + "NO_COLOR=1 '" + std::string(ATTN_DIFF_BINARY) + "' run " + args +
                                    " -q --candidate-worker '" + kWorker + " " + mode + "' --json '" + json_file + "'");
    std::ifstream in(json_file);
    if (in) r.report = json::parse(in);
    read_pids(&r);
    return r;
  }

  // Nothing left: every process the worker started is gone and TMPDIR is empty.
  void check_clean(const WorkerRun& r) const {
    CHECK(!r.pids.empty());
    for (long pid : r.pids) {
      for (int i = 0; i < 100 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      INFO("pid " << pid);
      CHECK_FALSE(alive(pid));
    }
    CHECK(std::filesystem::is_empty(tmp));
  }
};

const json& case_named(const json& report, const std::string& name) {
  for (const json& c : report["cases"])
    if (c["name"] == name) return c;
  FAIL("no case " << name);
  static const json none;
  return none;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("worker: a worker that serves every case passes them, started once and shut down", "[worker][cli]") {
  Scene s("pass");
  const WorkerRun r = s.run("pass");
  INFO(r.cli.out);
  CHECK(r.cli.code == 0);
  REQUIRE(r.report["cases"].size() == 3);
  for (const json& c : r.report["cases"]) {
    CHECK(c["verdict"] == "pass");
    CHECK(c["kernel"] == "worker");
    CHECK(c["candidate"]["worker"] == "fake");  // the name from its handshake
    // Its stderr lines of that request only.
    REQUIRE(c["candidate"]["output"].size() == 1);
    CHECK(has(c["candidate"]["output"][0].get<std::string>(), "case " + c["name"].get<std::string>()));
  }
  CHECK(r.report["run"]["candidate"] == "worker");
  CHECK(r.report["run"]["candidate_worker"] == kWorker + " pass");
  CHECK(r.starts == 1);
  s.check_clean(r);
}

TEST_CASE("worker: --candidate-jobs 2 gives each job its own worker, and the serial run's verdicts", "[worker][cli]") {
  Scene s("jobs");
  const WorkerRun r = s.run("crash causal", "-c configs/phase1.json --candidate-jobs 2");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  REQUIRE(r.report["cases"].size() == 8);
  for (const json& c : r.report["cases"]) CHECK(c["verdict"] == (c["name"] == "causal" ? "error" : "pass"));
  CHECK(r.report["cases"][1]["name"] == "causal");  // suite order
  // Two workers, and one more start for whichever job serves a case after the crash.
  CHECK(r.starts >= 2);
  CHECK(r.starts <= 3);
  s.check_clean(r);
}

TEST_CASE("worker: a crash is that case's error with its stderr, the worker restarts for the next", "[worker][cli]") {
  Scene s("crash");
  const WorkerRun r = s.run("crash causal");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  const std::string err = case_named(r.report, "causal")["error"];
  CHECK(case_named(r.report, "causal")["verdict"] == "error");
  CHECK(has(err, "the worker exited with status 139 (the command it ran was killed by signal 11"));
  CHECK(has(err, "while serving request 2"));
  CHECK(has(err, "| fake worker: crashing on causal"));
  CHECK(case_named(r.report, "basic")["verdict"] == "pass");
  CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
  CHECK(r.starts == 2);
  s.check_clean(r);
}

TEST_CASE("worker: a hang is a timeout error, the worker's group is killed, the others run", "[worker][cli]") {
  Scene s("hang");
  const auto start = std::chrono::steady_clock::now();
  const WorkerRun r = s.run("hang causal", kThree + " --timeout 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  CHECK(case_named(r.report, "causal")["verdict"] == "error");
  CHECK(has(case_named(r.report, "causal")["error"], "the worker did not answer request 2 within 1 s and was killed with "
                                                      "its process group"));
  CHECK(case_named(r.report, "basic")["verdict"] == "pass");
  CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
  CHECK(r.starts == 2);
  CHECK(seconds < 30);  // about the 1 s timeout plus two Python starts, not the hour it sleeps
  s.check_clean(r);
}

TEST_CASE("worker: garbage or a wrong id on stdout is not a reply: an error, and a restart", "[worker][cli]") {
  for (const char* mode : {"garbage causal", "wrong-id causal"}) {
    INFO(mode);
    Scene s("garbage");
    const WorkerRun r = s.run(mode);
    INFO(r.cli.out);
    CHECK(r.cli.code == 3);
    const std::string err = case_named(r.report, "causal")["error"];
    CHECK(has(err, "the worker's reply to request 2, '"));
    CHECK(has(err, std::string(mode).starts_with("garbage") ? "'computing attention for causal', is not a reply: it is not JSON"
                                                            : "is not a reply: its \"id\" is 102, not 2"));
    CHECK(has(err, "note: a worker prints only replies on its stdout"));
    CHECK(case_named(r.report, "basic")["verdict"] == "pass");
    CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
    CHECK(r.starts == 2);
    s.check_clean(r);
  }
}

TEST_CASE("worker: an unsupported reply is the verdict unsupported, exit 0 when the others pass", "[worker][cli]") {
  Scene s("unsupported");
  const WorkerRun r = s.run("unsupported causal");
  INFO(r.cli.out);
  CHECK(r.cli.code == 0);
  CHECK(case_named(r.report, "causal")["verdict"] == "unsupported");
  CHECK(case_named(r.report, "causal")["error"] == "no sinks in this kernel");
  CHECK(case_named(r.report, "basic")["verdict"] == "pass");
  CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
  CHECK(r.starts == 1);  // declining a case is no fault
  s.check_clean(r);
}

TEST_CASE("worker: supports.layouts without --layout makes every case unsupported, naming both", "[worker][cli]") {
  Scene s("layouts");
  const WorkerRun r = s.run("bhsd-only");
  INFO(r.cli.out);
  CHECK(r.cli.code == 0);
  for (const json& c : r.report["cases"]) {
    CHECK(c["verdict"] == "unsupported");
    CHECK(c["error"] == "the worker 'fake' writes the layouts [bhsd] (supports.layouts), not --layout bshd");
  }
  CHECK(r.starts == 1);
  s.check_clean(r);
}

TEST_CASE("worker: an error reply is that case's error with its stderr and the worker stays up", "[worker][cli]") {
  Scene s("error");
  const WorkerRun r = s.run("error causal");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  const std::string err = case_named(r.report, "causal")["error"];
  CHECK(has(err, "the worker reported an error: kernel launch failed; its last stderr lines:"));
  CHECK(has(err, "| fake worker: head_dim too large for the SBUF"));
  CHECK_FALSE(has(err, "case basic"));  // only the lines of this request
  CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
  CHECK(r.starts == 1);
  s.check_clean(r);
}

TEST_CASE("worker: ok without an output file is that case's error and the worker stays up", "[worker][cli]") {
  Scene s("nothing");
  const WorkerRun r = s.run("nothing causal");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  CHECK(has(case_named(r.report, "causal")["error"], "the worker replied ok to request 2 but wrote nothing to " + s.tmp +
                                                         "/attn-diff-"));
  CHECK(case_named(r.report, "sinks")["verdict"] == "pass");
  CHECK(r.starts == 1);
  s.check_clean(r);
}

TEST_CASE("worker: a worker that exits early costs the case it was next sent, then restarts", "[worker][cli]") {
  SECTION("after the first case") {
    Scene s("exit_first");
    const WorkerRun r = s.run("exit-after-first");
    INFO(r.cli.out);
    CHECK(r.cli.code == 3);
    CHECK(case_named(r.report, "basic")["verdict"] == "pass");
    CHECK(case_named(r.report, "causal")["verdict"] == "error");
    CHECK(has(case_named(r.report, "causal")["error"], "the worker exited with status 0"));
    CHECK(case_named(r.report, "sinks")["verdict"] == "pass");  // the restarted worker's first case
    CHECK(r.starts == 2);
    s.check_clean(r);
  }
  SECTION("after the handshake, every time: restarts go on (the handshake worked) up to the bound") {
    Scene s("exit_hello");
    // 13 one-token cases: the first start and 10 restarts serve (and lose) 11 of them; the last 2
    // are errors without a start.
    std::string cases;
    for (int i = 0; i < 13; ++i)
      cases += std::string(i ? "," : "") + "{\"name\": \"c" + std::to_string(i) + "\", \"tokens\": 1, \"heads\": 1, \"head_dim\": 4}";
    const std::string suite = s.dir.file("suite.json", "{\"cases\": [" + cases + "]}");
    const WorkerRun r = s.run("exit-after-hello", "-c '" + suite + "'");
    INFO(r.cli.out);
    CHECK(r.cli.code == 3);
    REQUIRE(r.report["cases"].size() == 13);
    for (int i = 0; i < 11; ++i) {
      const std::string err = r.report["cases"][i]["error"];
      CHECK((has(err, "the worker exited with status 0 while serving request") ||
             has(err, "the worker exited with status 0 before request")));
    }
    CHECK(r.report["cases"][11]["error"] == "not sent to the worker: attn-diff gave up on it after 10 restarts in this "
                                            "run (the bound)");
    CHECK(r.report["cases"][12]["error"] == r.report["cases"][11]["error"]);
    CHECK(r.starts == 11);
    s.check_clean(r);
  }
}

TEST_CASE("worker: a worker that fails its handshake twice in a row is given up on", "[worker][cli]") {
  Scene s("bad_hello");
  const WorkerRun r = s.run("bad-hello");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  CHECK(has(case_named(r.report, "basic")["error"], "the worker's handshake reply 'Loading kernel... done' is unusable: it is not JSON"));
  CHECK(has(case_named(r.report, "causal")["error"], "note: attn-diff gives up on the worker"));
  CHECK(case_named(r.report, "sinks")["error"] == "not sent to the worker: it failed to start twice in a row");
  CHECK(r.starts == 2);
  s.check_clean(r);
}

TEST_CASE("worker: another protocol version makes every case an error naming both, started once", "[worker][cli]") {
  Scene s("v2");
  const WorkerRun r = s.run("v2");
  INFO(r.cli.out);
  CHECK(r.cli.code == 3);
  CHECK(has(case_named(r.report, "basic")["error"],
            "the worker speaks protocol 'attn-diff.worker.v2', attn-diff speaks 'attn-diff.worker.v1'"));
  for (const char* name : {"causal", "sinks"})
    CHECK(case_named(r.report, name)["error"] ==
          "not sent to the worker: it speaks protocol 'attn-diff.worker.v2', attn-diff speaks 'attn-diff.worker.v1'");
  CHECK(r.starts == 1);
  s.check_clean(r);
}

TEST_CASE("worker: a worker that ignores the shutdown and SIGTERM is killed with its group", "[worker][cli]") {
  Scene s("stubborn");
  const auto start = std::chrono::steady_clock::now();
  const WorkerRun r = s.run("stubborn");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.cli.out);
  CHECK(r.cli.code == 0);
  CHECK(r.starts == 1);
  CHECK(seconds < 30);  // the 2 s grace and 1 s after SIGTERM, not the hour it sleeps
  s.check_clean(r);
}

TEST_CASE("worker: --keep-temp keeps each case's full dump and says where", "[worker][cli]") {
  Scene s("keep");
  const WorkerRun r = s.run("pass", "-c configs/phase1.json --case sinks --keep-temp");
  INFO(r.cli.out);
  CHECK(r.cli.code == 0);
  CHECK(has(r.cli.out, "attn-diff: case 'sinks': kept " + s.tmp + "/attn-diff-"));
  std::vector<std::filesystem::path> kept(std::filesystem::directory_iterator(s.tmp), {});
  REQUIRE(kept.size() == 1);
  for (const char* f : {"q.npy", "k.npy", "v.npy", "sinks.npy", "golden.npy", "naive.npy", "tiled.npy", "case.json"})
    CHECK(std::filesystem::exists(kept[0] / "inputs" / f));
  CHECK(std::filesystem::exists(kept[0] / "out.npy"));
  std::filesystem::remove_all(kept[0]);
  s.check_clean(r);
}

TEST_CASE("worker: usage errors exit 2 before anything starts", "[worker][cli]") {
  const auto run = [](const std::string& args) { return attn::test::run_cli(args); };
  CliResult r = run("run -c configs/phase1.json --mutant no_sinks --candidate-worker 'true'");
  CHECK(r.code == 2);
  CHECK(has(r.out, "error: --mutant and --candidate-worker each choose the candidate; pass one"));
  r = run("run -c configs/phase1.json --candidate-cmd 'true' --candidate-worker 'true'");
  CHECK(r.code == 2);
  CHECK(has(r.out, "error: --candidate-cmd and --candidate-worker each choose the candidate; pass one"));
  r = run("run -c configs/phase1.json --candidate-worker '  '");
  CHECK(r.code == 2);
  CHECK(has(r.out, "error: --candidate-worker is empty: there is no command to judge"));
  r = run("shrink -c configs/phase1.json --case sinks --candidate-worker ''");
  CHECK(r.code == 2);
  CHECK(has(r.out, "error: --candidate-worker is empty"));
  r = run("shrink -c configs/phase1.json --case sinks --mutant no_sinks --candidate-worker 'true'");
  CHECK(r.code == 2);
  CHECK(has(r.out, "each choose the candidate"));
}

TEST_CASE("worker: shrink sends every proposal to one worker", "[worker][cli]") {
  Scene s("shrink");
  const std::string out = (s.dir.path / "min.json").string();
  const CliResult cli = attn::test::run_command(
      s.env() + "NO_COLOR=1 '" + std::string(ATTN_DIFF_BINARY) + "' shrink -c configs/phase1.json --case sinks -q "
      "--no-diagnose --max-seconds 5 --out '" + out + "' --candidate-worker '" + kWorker + " zeros'");
  INFO(cli.out);
  CHECK(cli.code == 1);
  std::ifstream in(out);
  REQUIRE(in);
  const json minimal = json::parse(in);
  CHECK(minimal["cases"].size() == 1);
  WorkerRun r;
  s.read_pids(&r);
  CHECK(r.starts == 1);  // dozens of proposals, one worker
  s.check_clean(r);
}

TEST_CASE("worker: Ctrl-C or SIGTERM during a request: exit 130/143, the cases before it kept, nothing left", "[worker][cli][interrupt]") {
  for (const auto& [shrink, sig] : std::vector<std::pair<bool, int>>{{false, SIGINT}, {false, SIGTERM}, {true, SIGINT}}) {
    INFO("signal " << sig << (shrink ? " during shrink" : " during run"));
    Scene s(std::string(sig == SIGINT ? "int" : "term") + (shrink ? "_shrink" : ""));
    const std::string serving = (s.dir.path / "serving").string(), log = (s.dir.path / "log.txt").string();
    const std::vector<std::string> args =
        shrink ? std::vector<std::string>{"shrink", "-c", "configs/phase1.json", "--case", "causal", "--candidate-worker",
                                          kWorker + " sleep causal", "--json", s.json_file}
               : std::vector<std::string>{"run", "-c", "configs/phase1.json", "--case", "basic", "--case", "causal",
                                          "--case", "sinks", "--candidate-worker", kWorker + " sleep causal", "--json",
                                          s.json_file};
    const pid_t pid = attn::test::start_cli(args, {{"TMPDIR", s.tmp}, {"WORKER_PIDS", s.pids}, {"WORKER_SERVING", serving}}, log);
    REQUIRE(pid >= 0);
    for (int i = 0; i < 1000 && !std::filesystem::exists(serving); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(std::filesystem::exists(serving));  // the worker is inside the request for causal
    const auto sent = std::chrono::steady_clock::now();
    ::kill(pid, sig);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) != pid) {
      if (std::chrono::steady_clock::now() - sent > std::chrono::seconds(20)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    INFO(attn::test::read_text(log));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + sig);
    CHECK(seconds < 10);  // at once, not the worker's hour of sleep
    WorkerRun r;
    s.read_pids(&r);
    CHECK(r.starts == 1);
    s.check_clean(r);
    if (shrink) {
      CHECK_FALSE(std::filesystem::exists(s.json_file));  // a reduction cut short writes nothing
      CHECK(has(attn::test::read_text(log), "interrupted: shrink stopped; nothing written"));
      continue;
    }
    std::ifstream in(s.json_file);
    REQUIRE(in);
    const json j = json::parse(in);
    CHECK(j["summary"]["incomplete"] == true);
    REQUIRE(j["cases"].size() == 1);
    CHECK(j["cases"][0]["name"] == "basic");
    CHECK(j["cases"][0]["verdict"] == "pass");
    CHECK(j["summary"]["not_run"] == 2);
  }
}
