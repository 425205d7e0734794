// Where reports go, through the CLI: no output may overwrite an input or another output, every
// output is probed before the work, symlinks and devices are written through (never replaced),
// a full disk is a runtime failure (exit 3) after the verdict, and a stdout closed early loses
// printing only, never the reports or the verdict's exit code.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

const std::string kBin = ATTN_DIFF_BINARY;
const std::string kSuite = std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json";

// A copy of phase1 in `dir`, as an input file a wrong option could overwrite.
std::string suite_copy(const TempDir& dir) {
  fs::copy_file(kSuite, dir.path / "suite.json", fs::copy_options::overwrite_existing);
  return (dir.path / "suite.json").string();
}

bool is_json_report(const std::string& path) {
  const auto j = nlohmann::json::parse(read_text(path), nullptr, false);
  return j.is_object() && j.value("schema", "") == "attn-diff.report.v1";
}

}  // namespace

TEST_CASE("report paths: an output naming an input file is refused before any work, naming both options",
          "[report_paths]") {
  TempDir dir("rp_input");
  const std::string suite = suite_copy(dir);
  const std::string original = read_text(suite);
  const std::string d = dir.path.string();
  fs::create_symlink(suite, dir.path / "alias.json");

  struct Try {
    std::string args, options;
  };
  const std::vector<Try> tries = {
      {"run -c " + suite + " --case basic --json " + d + "/./suite.json", "--json and --config"},
      {"run -c " + suite + " --case basic --html " + d + "/alias.json", "--html and --config"},  // a symlink to it
      {"run -c " + suite + " --case basic --baseline " + suite + " --md " + suite, "--md and --config"},
      {"shrink -c " + suite + " --case basic --mutant no_scale --out " + suite, "--out and --config"},
      {"shrink -c " + suite + " --case basic --mutant no_scale --json " + d + "/alias.json", "--json and --config"},
      {"mutate -c " + suite + " --case basic --json " + suite, "--json and --config"},
      {"calibrate -c " + suite + " --case basic --seeds 2 --md " + suite, "--md and --config"},
      {"bench -c " + suite + " --case basic --json " + suite, "--json and --config"},
      {"merge " + suite + " --json " + suite, "--json and an input report"},
  };
  for (const Try& t : tries) {
    INFO(t.args);
    const auto r = run_cli(t.args);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(t.options + " name the same file"));
    CHECK_THAT(r.out, Contains("would overwrite an input"));
    CHECK(r.out.find("cases, ") == std::string::npos);  // nothing ran: no summary line
    CHECK(read_text(suite) == original);
    CHECK(fs::is_symlink(dir.path / "alias.json"));
  }
}

TEST_CASE("report paths: compare, diagnose and dump refuse to overwrite the candidate, the dump or the config",
          "[report_paths]") {
  TempDir dir("rp_dump");
  const std::string suite = suite_copy(dir);
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c " + suite + " --case basic --out " + d).code == 0);
  const std::string tiled = d + "/tiled.npy", q = read_text(d + "/q.npy"), t = read_text(tiled);

  auto r = run_cli("compare -i " + d + " --candidate " + tiled + " --json " + tiled);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--json and "));
  CHECK_THAT(r.out, Contains("name the same file"));
  r = run_cli("compare -i " + d + " --candidate " + tiled + " --junit " + d + "/q.npy");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--junit and --inputs name the same file"));
  r = run_cli("diagnose -i " + d + " --candidate " + tiled + " --json " + d + "/case.json");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--json and --inputs name the same file"));
  CHECK(read_text(d + "/q.npy") == q);
  CHECK(read_text(tiled) == t);
  // Only what the dump lists is an input: a report from a previous compare in the folder is not.
  for (int n = 0; n < 2; ++n) CHECK(run_cli("compare -i " + d + " --candidate " + tiled + " --json " + d + "/report.json").code == 0);

  // dump --out into the folder of the config, whose name is case.json: it would be overwritten.
  fs::copy_file(suite, dir.path / "case.json");
  const std::string before = read_text((dir.path / "case.json").string());
  r = run_cli("dump -c " + (dir.path / "case.json").string() + " --case basic --out " + dir.path.string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--out and --config name the same file"));
  CHECK(read_text((dir.path / "case.json").string()) == before);
  CHECK_FALSE(fs::exists(dir.path / "q.npy"));
}

TEST_CASE("report paths: two outputs naming one file are refused, however the path is spelled", "[report_paths]") {
  TempDir dir("rp_twice");
  const std::string d = dir.path.string();
  auto r = run_cli("run -c configs/phase1.json --case basic --json " + d + "/r.x --html " + d + "/./r.x");
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--html and --json name the same file"));
  CHECK_THAT(r.out, Contains("each output needs a file of its own"));
  CHECK_FALSE(fs::exists(dir.path / "r.x"));
  fs::create_symlink(dir.path / "real.json", dir.path / "link.json");  // dangling: the file is new
  r = run_cli("run -c configs/phase1.json --case basic --junit " + d + "/link.json --md " + d + "/real.json");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--md and --junit name the same file"));
  r = run_cli("calibrate -c configs/phase1.json --case basic --seeds 2 --json " + d + "/c --md " + d + "/c");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("--md and --json name the same file"));
  CHECK_FALSE(fs::exists(dir.path / "c"));
  // Different files are fine.
  CHECK(run_cli("run -c configs/phase1.json --case basic --json " + d + "/r.json --html " + d + "/r.html").code == 0);
}

TEST_CASE("report paths: mutate, calibrate, bench and diagnose probe their report paths before the work",
          "[report_paths]") {
  const std::string bad = "/nonexistent_attn_diff_dir/out.json";
  struct Try {
    std::string args, work;  // `work`: a line the command prints only after doing its work
  };
  for (const Try& t : {Try{"mutate -c configs/phase1.json --case basic --json " + bad, "mutation score"},
                       Try{"calibrate -c configs/phase1.json --case basic --seeds 2 --md " + bad, "calibration:"},
                       Try{"bench --tokens 8 --heads 2 --kv-heads 1 --head-dim 4 --repeats 1 --json " + bad, "validated"},
                       Try{"shrink -c configs/phase1.json --case basic --mutant no_scale --json " + bad, "original:"}}) {
    INFO(t.args);
    const auto r = run_cli(t.args);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: cannot write"));
    CHECK(r.out.find(t.work) == std::string::npos);
  }
}

TEST_CASE("report paths: a symlink is written through to its target, atomically, and stays a link",
          "[report_paths]") {
  TempDir dir("rp_link");
  const std::string target = dir.file("target.json", "old\n");
  fs::create_symlink(target, dir.path / "link.json");
  const auto r = run_cli("run -c configs/phase1.json --case basic --json " + (dir.path / "link.json").string());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(fs::is_symlink(dir.path / "link.json"));
  CHECK(is_json_report(target));
  for (const auto& e : fs::directory_iterator(dir.path))  // no temporary file left behind
    CHECK_THAT(e.path().filename().string(), !Contains(".tmp."));
}

TEST_CASE("report paths: a character device behind a symlink is written, never replaced", "[report_paths]") {
  // Through a link in a temporary folder, so even a broken attn-diff replaces the link, not /dev/null.
  TempDir dir("rp_dev");
  fs::create_symlink("/dev/null", dir.path / "null.json");
  fs::create_symlink("/dev/null", dir.path / "null.html");
  const auto r = run_cli("run -c configs/phase1.json --case basic --json " + (dir.path / "null.json").string() +
                         " --html " + (dir.path / "null.html").string());
  INFO(r.out);
  CHECK(r.code == 0);  // two reports to /dev/null is not a clash
  CHECK(fs::is_symlink(dir.path / "null.json"));
  CHECK(fs::is_symlink(dir.path / "null.html"));
  CHECK(fs::is_character_file("/dev/null"));
}

TEST_CASE("report paths: --json /dev/stdout redirected to a file appends to it instead of replacing it",
          "[report_paths]") {
  TempDir dir("rp_stdout");
  const std::string out = (dir.path / "out.txt").string();
  const auto r = run_command("NO_COLOR=1 " + kBin + " run -c configs/phase1.json --case basic --json /dev/stdout > " + out);
  INFO(r.out);
  CHECK(r.code == 0);
  const std::string text = read_text(out);
  const auto summary = text.find("1 cases, 1 passed, 0 failed"), report = text.find("\"schema\": \"attn-diff.report.v1\"");
  CHECK(summary != std::string::npos);  // what was printed is still there
  CHECK(report != std::string::npos);
  CHECK(summary < report);
}

TEST_CASE("report paths: a FIFO gets the report written into it and stays a FIFO", "[report_paths]") {
  TempDir dir("rp_fifo");
  const std::string fifo = (dir.path / "report.fifo").string(), got = (dir.path / "got.json").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // The reader is started first and waits on the FIFO; attn-diff opens it only to write the report.
  // The whole line runs after run_command's `cd SRC &&` only up to the '&', so paths are absolute.
  // `timeout` only keeps a broken attn-diff (one that replaces the FIFO) from leaving cat waiting.
  const auto r = run_command("timeout 60 cat " + fifo + " > " + got + " & NO_COLOR=1 " + kBin +
                             " run -c " + kSuite + " --case basic --json " + fifo + "; rc=$?; wait; exit $rc");
  INFO(r.out);
  CHECK(r.code == 0);
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(is_json_report(got));
}

TEST_CASE("report paths: a full disk is a runtime failure (exit 3) naming the path and errno, after the verdict",
          "[report_paths]") {
  TempDir dir("rp_full");
  fs::create_symlink("/dev/full", dir.path / "full.json");  // every write: ENOSPC
  const std::string full = (dir.path / "full.json").string();
  auto r = run_cli("run -c configs/phase1.json --case basic --json " + full);
  INFO(r.out);
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains(full + ": error: write failed (No space left on device)"));
  CHECK_THAT(r.out, Contains("1 cases, 1 passed, 0 failed"));  // the verdict is still printed
  CHECK(fs::is_symlink(full));
  CHECK(fs::is_character_file("/dev/full"));
  r = run_cli("mutate -c configs/phase1.json --case basic --mutant no_scale --json " + full);
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains("mutation score"));

  // A regular report whose temporary file cannot be written (a file size limit; SIGXFSZ ignored,
  // so the write fails with EFBIG as it would with ENOSPC): exit 3, the old report untouched, no
  // temporary file left.
  const std::string report = dir.file("report.json", "previous\n");
  r = run_command("trap '' XFSZ; ulimit -f 1; NO_COLOR=1 " + kBin + " run -c configs/phase1.json --json " + report);
  INFO(r.out);
  CHECK(r.code == 3);
  CHECK_THAT(r.out, Contains(report + ": error: write failed (File too large)"));
  CHECK_THAT(r.out, Contains("8 cases, 8 passed, 0 failed"));
  CHECK(read_text(report) == "previous\n");
  for (const auto& e : fs::directory_iterator(dir.path)) CHECK_THAT(e.path().filename().string(), !Contains(".tmp."));
}

namespace {

// Runs `attn-diff ARGS` with stdout a pipe nobody reads (its read end closed before the start),
// so every write to stdout meets EPIPE; stderr goes to `err_file`. Returns the wait status.
int run_with_closed_stdout(const std::string& args, const std::string& err_file) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  ::close(fds[0]);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);  // as a shell pipeline would start it
    ::dup2(fds[1], STDOUT_FILENO);
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(e, STDERR_FILENO);
    const std::string cmd = "cd '" + std::string(ATTN_DIFF_SOURCE_DIR) + "' && NO_COLOR=1 exec " + kBin + " " + args;
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("report paths: a stdout closed early (| head) still gets the reports written and the verdict's exit code",
          "[report_paths]") {
  TempDir dir("rp_pipe");
  const std::string json = (dir.path / "r.json").string(), md = (dir.path / "r.md").string();
  const std::string err = (dir.path / "stderr.txt").string();
  int status = run_with_closed_stdout("run -c configs/phase1.json --json " + json + " --md " + md, err);
  INFO(read_text(err));
  REQUIRE_FALSE(WIFSIGNALED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(is_json_report(json));
  CHECK(fs::exists(md));
  // A failing run keeps its exit code 1: the verdict is what CI needs, not the lost printing.
  status = run_with_closed_stdout("run -c configs/phase1.json --case basic --mutant no_scale --json " + json, err);
  REQUIRE_FALSE(WIFSIGNALED(status));
  CHECK(WEXITSTATUS(status) == 1);
  const auto j = nlohmann::json::parse(read_text(json));
  CHECK(j["summary"]["failed"] == 1);
  status = run_with_closed_stdout("merge " + json + " --json " + (dir.path / "m.json").string(), err);
  REQUIRE_FALSE(WIFSIGNALED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(fs::exists(dir.path / "m.json"));
}
