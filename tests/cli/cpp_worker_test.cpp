// examples/cpp_worker/attn_diff_worker.hpp, the C++ side of the worker protocol (SPEC §13), driven
// the way attn-diff drives a worker: request lines on stdin, reply lines on stdout, the log on
// stderr; then through `attn-diff run --candidate-worker`. The probe
// (tests/helpers/cpp_worker_probe_main.cpp) misbehaves on request; the example worker's naive
// attention must pass phase1-3.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string kHandshake = R"({"protocol": "attn-diff.worker.v1"})";

std::string request(int id, const std::string& case_name, const std::string& inputs, const std::string& out) {
  return R"({"id": )" + std::to_string(id) + R"(, "case": ")" + case_name + R"(", "inputs": ")" + inputs + R"(", "out": ")" +
         out + R"(", "layout": "bshd"})";
}

struct Served {
  int code = -1;
  std::vector<std::string> replies;  // stdout, line by line
  std::string log;                   // stderr
};

/// Runs `worker` with `lines` on its stdin (then end of input) and splits what it wrote.
Served serve(const std::string& worker, const std::vector<std::string>& lines, const TempDir& dir) {
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  const std::string in = dir.file("requests.jsonl", input.empty() ? std::string() : input);
  if (input.empty()) std::ofstream(in).close();
  const std::string out = dir.file("replies.jsonl"), err = dir.file("log.txt");
  Served s;
  // In a subshell: run_command appends its own 2>&1, which must not undo this one.
  s.code = run_command("('" + worker + "' < '" + in + "' > '" + out + "' 2> '" + err + "')").code;
  std::istringstream replies(read_text(out));
  for (std::string line; std::getline(replies, line);) s.replies.push_back(line);
  s.log = read_text(err);
  return s;
}

const std::string kHello = R"({"protocol": "attn-diff.worker.v1", "name": "probe", "supports": {"layouts": ["bshd"], "backward": false}})";

}  // namespace

TEST_CASE("cpp worker: ok writes the kernel's output, a throw is that case's error and the worker serves on", "[cpp_worker][cli]") {
  TempDir dir("cpp_worker_ok");
  const std::string dump = dir.file("sinks");
  REQUIRE(run_cli("dump -q -c configs/phase1.json --case sinks -o " + dump).code == 0);
  const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE,
                       {kHandshake, request(1, "sinks", dump, dir.file("o1.npy")), request(2, "throws", dump, dir.file("o2.npy")),
                        request(3, "throws_int", dump, dir.file("o3.npy")), request(4, "bad_shape", dump, dir.file("o4.npy")),
                        request(5, "unsupported", dump, dir.file("o5.npy")), request(6, "sinks", dump, dir.file("o6.npy"))},
                       dir);
  INFO(s.log);
  CHECK(s.code == 0);
  REQUIRE(s.replies.size() == 7);
  CHECK(s.replies[0] == kHello);
  CHECK(s.replies[1] == R"({"id": 1, "ok": true})");
  CHECK(s.replies[2] == R"({"id": 2, "ok": false, "error": "case 'throws': the kernel exploded on purpose"})");
  CHECK(s.replies[3] == R"({"id": 3, "ok": false, "error": "case 'throws_int': the kernel threw something that is not a std::exception"})");
  CHECK(s.replies[4] == R"({"id": 4, "ok": false, "error": "case 'bad_shape': the output's shape holds 6 elements but its data 5"})");
  CHECK(s.replies[5] == R"({"id": 5, "ok": false, "unsupported": "this kernel has no sliding window"})");
  CHECK(s.replies[6] == R"({"id": 6, "ok": true})");
  // The probe returns the dump's tiled.npy as read: the written file is the same bytes (both are
  // version-1.0 float32 .npy files with numpy's header layout), and it passes.
  CHECK(read_text(dir.file("o1.npy")) == read_text(dump + "/tiled.npy"));
  CHECK(run_cli("compare -q -i " + dump + " --candidate " + dir.file("o6.npy")).code == 0);
  for (const char* f : {"o2.npy", "o3.npy", "o4.npy", "o5.npy"}) CHECK_FALSE(std::filesystem::exists(dir.file(f)));
}

TEST_CASE("cpp worker: printf, std::cout and write(1) go to the log, never to the protocol channel", "[cpp_worker][cli]") {
  TempDir dir("cpp_worker_prints");
  const std::string dump = dir.file("sinks");
  REQUIRE(run_cli("dump -q -c configs/phase1.json --case sinks -o " + dump).code == 0);
  const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE,
                       {kHandshake, request(1, "sinks", dump, dir.file("a.npy")), request(2, "reads_stdin", dump, dir.file("b.npy"))}, dir);
  CHECK(s.code == 0);
  REQUIRE(s.replies.size() == 3);  // only replies: the kernel's stdin is /dev/null, so request 2 was not eaten
  CHECK(s.replies[1] == R"({"id": 1, "ok": true})");
  CHECK(s.replies[2] == R"({"id": 2, "ok": true})");
  CHECK(s.log == "printf before serve\nstd::cout before serve\n"
                 "printf from the kernel of sinks\nstd::cout from the kernel\nwrite(1) from the kernel\n"
                 "printf from the kernel of reads_stdin\nstd::cout from the kernel\nwrite(1) from the kernel\n");
}

TEST_CASE("cpp worker: garbled lines, a missing dump, shutdown and end of input", "[cpp_worker][cli]") {
  TempDir dir("cpp_worker_garbage");
  const std::string dump = dir.file("sinks");
  REQUIRE(run_cli("dump -q -c configs/phase1.json --case sinks -o " + dump).code == 0);

  SECTION("a line with an id gets an error reply; one without is logged; the worker serves on") {
    const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE,
                         {kHandshake, "this is not json", R"({"id": 4, "case": "sinks", "inputs": )", "[1, 2]", "",
                          R"({"id": 6, "case": "sinks"})", R"({"id": 7, "inputs": "/nonexistent/dump", "out": "x.npy"})",
                          request(8, "sinks", dump, dir.file("o.npy"))},
                         dir);
    CHECK(s.code == 0);
    REQUIRE(s.replies.size() == 5);
    CHECK(s.replies[1] == R"j({"id": 4, "ok": false, "error": "request 4: error: not a JSON line (bad JSON: unexpected end at offset 37)"})j");
    CHECK(s.replies[2] == R"({"id": 6, "ok": false, "error": "request 6: error: no 'inputs' path in the request"})");
    CHECK(s.replies[3] == R"({"id": 7, "ok": false, "error": "/nonexistent/dump/case.json: cannot open: No such file or directory"})");
    CHECK(s.replies[4] == R"({"id": 8, "ok": true})");
    CHECK_THAT(s.log, Contains("attn_diff_worker: ignored a request line: not a JSON line (bad JSON: expected a value at offset 0): this is not json"));
    CHECK_THAT(s.log, Contains("attn_diff_worker: ignored a request line: not a JSON object: [1, 2]"));
  }
  SECTION("shutdown ends the worker: nothing after it is answered") {
    const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE, {kHandshake, R"({"op": "shutdown"})", request(1, "sinks", dump, dir.file("o.npy"))}, dir);
    CHECK(s.code == 0);
    CHECK(s.replies == std::vector<std::string>{kHello});
    CHECK_FALSE(std::filesystem::exists(dir.file("o.npy")));
  }
  SECTION("end of input ends the worker, before the handshake too") {
    const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE, {}, dir);
    CHECK(s.code == 0);
    CHECK(s.replies.empty());
  }
  SECTION("the JSON reader: escapes, unicode, nesting, ids as sent") {
    const auto s = serve(ATTN_DIFF_CPP_WORKER_PROBE,
                         {kHandshake, R"({"id": 12345678901, "extra": {"a": [1, 2.5e-3, true, null, "\u00e9\ud83d\ude00"]}, "case": "th\u0072ows", "inputs": ")" + dump + R"(", "out": "o.npy"})",
                          R"({"id": "s-1", "case": "unsupported", "inputs": ")" + dump + R"(", "out": "o.npy"})",
                          R"({"id": 3, "case": "x", "inputs": "a\"b", "out": "o.npy"} trailing)"},
                         dir);
    CHECK(s.code == 0);
    REQUIRE(s.replies.size() == 4);
    CHECK(s.replies[1] == R"({"id": 12345678901, "ok": false, "error": "case 'throws': the kernel exploded on purpose"})");
    CHECK(s.replies[2] == R"({"id": "s-1", "ok": false, "unsupported": "this kernel has no sliding window"})");
    CHECK_THAT(s.replies[3], StartsWith(R"j({"id": 3, "ok": false, "error": "request 3: error: not a JSON line (bad JSON: trailing characters at offset )j"));
  }
}

TEST_CASE("cpp worker: the example's naive attention passes every case of phase1-3 through run --candidate-worker", "[cpp_worker][cli]") {
  const std::string worker = std::string(" --candidate-worker '") + ATTN_DIFF_EXAMPLE_WORKER + "'";
  for (const auto& [config, summary] : {std::pair{"phase1", "8 cases, 8 passed, 0 failed"},
                                        std::pair{"phase2", "13 cases, 13 passed, 0 failed"},
                                        std::pair{"phase3", "14 cases, 14 passed, 0 failed"}}) {
    const auto r = run_cli(std::string("run -q -c configs/") + config + ".json" + worker);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains(summary));
  }
}

TEST_CASE("cpp worker: the example with its window bug fails exactly the window cases of phase1-3", "[cpp_worker][cli]") {
  // The 12 cases of phase1-3 whose window is narrower than the sequence (python/tests/test_plugin.py).
  const std::string worker = std::string(" --candidate-worker '") + ATTN_DIFF_EXAMPLE_WORKER + " --kernel-bug window_off_by_one'";
  for (const auto& [config, summary] : {std::pair{"phase1", "8 cases, 6 passed, 2 failed"},
                                        std::pair{"phase2", "13 cases, 5 passed, 8 failed"},
                                        std::pair{"phase3", "14 cases, 12 passed, 2 failed"}}) {
    const auto r = run_cli(std::string("run -q -c configs/") + config + ".json" + worker);
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Contains(summary));
  }
}

TEST_CASE("cpp worker: the probe's ok, error and unsupported replies through run --candidate-worker", "[cpp_worker][cli]") {
  // The probe picks its behaviour by case name, and prints to stdout on every call.
  TempDir dir("cpp_worker_run");
  const std::string suite = dir.file("probe.json", R"({"suite": "probe", "defaults": {"tokens": 8, "heads": 2, "head_dim": 16},
    "cases": [{"name": "ok"}, {"name": "throws"}, {"name": "unsupported"}, {"name": "throws_int"}, {"name": "ok_again"}]})");
  const auto r = run_cli("run -c " + suite + " --json " + dir.file("r.json") + " --candidate-worker '" + ATTN_DIFF_CPP_WORKER_PROBE + "'");
  INFO(r.out);
  CHECK(r.code == 3);  // a case is an error
  CHECK_THAT(r.out, Contains("5 cases, 2 passed, 0 failed, 2 errors, 1 unsupported"));
  CHECK_THAT(r.out, Contains("throws: error: the worker reported an error: case 'throws': the kernel exploded on purpose"));
  CHECK_THAT(r.out, Contains("unsupported: unsupported: this kernel has no sliding window"));
  CHECK_THAT(r.out, Contains("printf from the kernel of throws"));  // the probe's prints, as its log
}

TEST_CASE("cpp worker: the example rejects an unknown argument with its usage", "[cpp_worker][cli]") {
  const auto r = run_command(std::string("'") + ATTN_DIFF_EXAMPLE_WORKER + "' --kernel-bug nosuch < /dev/null");
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("usage: ") && Contains("[--kernel-bug none|window_off_by_one]"));
}
