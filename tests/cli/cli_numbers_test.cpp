// Numbers on the command line (issue #13): every numeric option of every subcommand refuses a
// value out of its range, a sign where none belongs, NaN and infinity, an overflow and trailing
// text with exit 2 and a message naming the option and the range, before anything runs or is
// written. CLI11 alone wrapped --seed -1 to 2^64 - 1, read "010" as octal 8 and let --timeout nan
// mean no timeout at all. Seeds are 0 .. 2^53 - 1, so what dump writes compare reads back.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/cli/common.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

struct Bad {
  std::string command;  // the subcommand and valid arguments
  std::string option;   // the option given a bad value
  std::vector<std::string> values;
  std::string range;  // what the message must say after "error: OPTION: "
};

const std::string kSeedRange = "must be an integer from 0 to 9007199254740991";
const std::string kThreadRange = "must be an integer from 0 to 1024";
const std::string kTimeoutRange = "must be a number of seconds > 0 and at most 604800 (a week)";
const std::string kBytesRange = "must be a size from 1 byte to 1024T";
const std::vector<std::string> kBadThreads = {"-1", "1025", "1.5", "4x", "2147483648", "nan", "' 2'"};
const std::vector<std::string> kBadBytes = {"0", "-1G", "nan", "inf", "2000T", "0x10", "8Gx", "' 8G'", "1e3G", "''"};

void check_refused(const Bad& b, const std::string& dir_that_must_not_appear = "") {
  for (const std::string& v : b.values) {
    const auto r = run_cli(b.command + " " + b.option + " " + v);
    INFO(b.command << " " << b.option << " " << v << "\n" << r.out);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains("error: " + b.option + ": " + b.range));
    CHECK_THAT(r.out, !Contains("Usage:"));  // the message, not the whole --help
    if (!dir_that_must_not_appear.empty()) CHECK_FALSE(std::filesystem::exists(dir_that_must_not_appear));
  }
}

}  // namespace

TEST_CASE("cli numbers: run refuses bad seeds, threads, timeouts and sizes", "[cli][cli_numbers]") {
  TempDir dir("cli_numbers_run");
  const std::string report = dir.file("r.json");
  const std::string run = "run -c configs/phase1.json --case basic -q --json " + report;
  check_refused({run, "--seed",
                 {"-1", "18446744073709551616", "18446744073709551615", "9007199254740992", "1x", "+1", "' 1'", "0x10",
                  "1e3", "''", "true"},
                 kSeedRange});
  check_refused({run, "--threads", kBadThreads, kThreadRange});
  check_refused({run, "--max-memory", kBadBytes, kBytesRange});
  // With a candidate that would have run: --timeout nan meant no timeout, and the case an error (3).
  check_refused({run + " --candidate-cmd true", "--timeout",
                 {"nan", "inf", "-inf", "-1", "0", "-0", "1e400", "604801", "5s", "0x10", "''"}, kTimeoutRange});
  CHECK_FALSE(std::filesystem::exists(report));
}

TEST_CASE("cli numbers: every other subcommand refuses its bad numbers", "[cli][cli_numbers]") {
  TempDir dir("cli_numbers_other");
  const std::string inputs = (dir.path / "dump").string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case basic --out " + inputs).code == 0);
  const std::string candidate = inputs + "/tiled.npy";

  check_refused({"validate -c configs/phase1.json", "--max-memory", kBadBytes, kBytesRange});

  const std::string fresh = (dir.path / "never").string();
  const std::string dump = "dump -c configs/phase1.json --case basic --out " + fresh;
  check_refused({dump, "--seed", {"-1", "9007199254740992", "18446744073709551616", "7e"}, kSeedRange}, fresh);
  check_refused({dump, "--threads", kBadThreads, kThreadRange}, fresh);
  check_refused({dump, "--max-memory", {"0", "nan", "-8G"}, kBytesRange}, fresh);

  const std::string compare = "compare -i " + inputs + " --candidate " + candidate;
  check_refused({compare, "--threads", kBadThreads, kThreadRange});
  check_refused({compare, "--max-memory", {"0", "inf"}, kBytesRange});

  const std::string diagnose = "diagnose -i " + inputs + " --candidate " + candidate;
  check_refused({diagnose, "--top", {"-1", "0", "10001", "18446744073709551615", "3.0"},
                 "must be an integer from 1 to 10000"});
  check_refused({diagnose, "--threads", kBadThreads, kThreadRange});
  check_refused({diagnose, "--max-memory", {"nan"}, kBytesRange});

  const std::string shrink = "shrink -c configs/phase1.json --case sinks --mutant no_sinks -q";
  check_refused({shrink, "--timeout", {"nan", "0", "inf", "-5"}, kTimeoutRange});
  check_refused({shrink, "--max-runs", {"0", "-1", "1000000001", "1e3", "99999999999999999999"},
                 "must be an integer from 1 to 1000000000"});
  check_refused({shrink, "--max-seconds", {"nan", "-1", "inf", "604801", "1e400"},
                 "must be a number of seconds >= 0 and at most 604800 (a week)"});
  check_refused({shrink, "--max-diagnose-seconds", {"nan", "-0.5", "inf"},
                 "must be a number of seconds >= 0 and at most 604800 (a week)"});
  check_refused({shrink, "--threads", kBadThreads, kThreadRange});
  check_refused({shrink, "--max-memory", {"0"}, kBytesRange});

  const std::string mutate = "mutate -c configs/phase1.json --case basic --mutant no_sinks -q";
  check_refused({mutate, "--threads", kBadThreads, kThreadRange});
  check_refused({mutate, "--max-memory", {"nan", "0"}, kBytesRange});

  const std::string calibrate = "calibrate -c configs/phase1.json --case basic -q";
  check_refused({calibrate + " --seeds 1", "--threads", kBadThreads, kThreadRange});
  check_refused({calibrate, "--seeds", {"0", "-1", "1000001", "1e3", "4294967297"}, "must be an integer from 1 to 1000000"});

  // A tiny shape, so that the values the old code accepted ran quickly (it ran them all).
  const std::string bench = "bench --tokens 4 --kv-tokens 4 --heads 2 --kv-heads 2 --head-dim 4 --only golden --probe-seconds 0";
  const std::string small = bench + " --repeats 1 --warmup 0";
  for (const char* size : {"--batch", "--tokens", "--kv-tokens", "--heads", "--kv-heads", "--head-dim"})
    check_refused({"bench --only golden --probe-seconds 0", size, {"0", "-1", "99999999999999999999", "9000000000000001", "4.0", "4k"},
                   "must be an integer from 1 to 9000000000000000"});
  check_refused({small, "--window", {"-1", "1x"}, "must be an integer from 0 to 9000000000000000"});
  check_refused({small, "--q-offset", {"1x", "-1125899906842625", "''"},
                 "must be an integer from -1125899906842624 to 9000000000000000"});
  check_refused({small, "--seed", {"-1", "9007199254740992"}, kSeedRange});
  check_refused({bench + " --warmup 0", "--repeats", {"0", "-1", "1000001"}, "must be an integer from 1 to 1000000"});
  check_refused({bench + " --repeats 1", "--warmup", {"-1", "1000001"}, "must be an integer from 0 to 1000000"});
  check_refused({"bench --tokens 4 --kv-tokens 4 --heads 2 --kv-heads 2 --head-dim 4 --only golden --repeats 1 --warmup 0", "--probe-seconds", {"nan", "-1", "inf"},
                 "must be a number of seconds >= 0 and at most 604800 (a week)"});
  check_refused({small, "--tiles", {"128x0", "' 128x2048'", "+128x2048", "128x2048x", "128", "x"},
                 "must be QxKV, two integers from 1 to 9000000000000000"});
  check_refused({small, "--threads", kBadThreads, kThreadRange});
  check_refused({small, "--max-memory", {"0"}, kBytesRange});
}

TEST_CASE("cli numbers: the values in range are taken as written", "[cli][cli_numbers]") {
  TempDir dir("cli_numbers_good");
  const std::string report = dir.file("r.json");
  auto seed_in_report = [&](const std::string& args) {
    const auto r = run_cli("run -c configs/phase1.json --case basic -q --json " + report + " " + args);
    INFO(args << "\n" << r.out);
    REQUIRE(r.code == 0);
    std::ifstream in(report);
    return nlohmann::json::parse(in).at("cases").at(0).at("seed");
  };
  CHECK(seed_in_report("--seed 9007199254740991") == 9007199254740991ull);
  CHECK(seed_in_report("--seed 010") == 10);  // decimal: CLI11 alone read it as octal 8
  CHECK(seed_in_report("--seed 0 --threads 0 --max-memory 1.5G") == 0);
  CHECK(seed_in_report("--threads 1024 --max-memory 1024T") == 0);
  // A fractional timeout is a timeout: the candidate writes nothing, so the case is an error (3).
  CHECK(run_cli("run -c configs/phase1.json --case basic -q --timeout 0.25 --candidate-cmd true").code == 3);
  CHECK(run_cli("run -c configs/phase1.json --case basic -q --timeout 604800 --candidate-cmd true").code == 3);
}

TEST_CASE("cli numbers: the largest seed dump accepts is one compare reads back exactly", "[cli][cli_numbers]") {
  TempDir dir("cli_numbers_seed");
  const std::string out = (dir.path / "d").string();
  auto r = run_cli("dump -c configs/phase1.json --case basic --seed 9007199254740991 --out " + out);
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::ifstream in(out + "/case.json");
  const auto doc = nlohmann::json::parse(in);
  CHECK(doc.at("cases").at(0).at("seed") == 9007199254740991ull);
  CHECK(static_cast<std::uint64_t>(doc.at("cases").at(0).at("seed").get<double>()) == 9007199254740991ull);  // as a double reader sees it
  r = run_cli("compare -i " + out + " --candidate " + out + "/tiled.npy -q");
  INFO(r.out);
  CHECK(r.code == 0);
  // One more and dump refuses it, as the suite loader (and so compare) would.
  const std::string past = (dir.path / "past").string();
  r = run_cli("dump -c configs/phase1.json --case basic --seed 9007199254740992 --out " + past);
  CHECK(r.code == 2);
  CHECK_FALSE(std::filesystem::exists(past));
  TempDir cfg("cli_numbers_seed_cfg");
  const std::string suite = cfg.file("s.json", R"({"cases": [{"name": "a", "tokens": 4, "heads": 2, "head_dim": 4,
    "seed": 9007199254740992}]})");
  r = run_cli("validate -c " + suite);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("case 'a': error: key 'seed' is too large (9007199254740992; at most 9007199254740991)"));
  const std::string ok = cfg.file("ok.json", R"({"cases": [{"name": "a", "tokens": 4, "heads": 2, "head_dim": 4,
    "seed": 9007199254740991}]})");
  CHECK(run_cli("validate -c " + ok).code == 0);
}

TEST_CASE("cli numbers: the parsers behind the validators", "[cli_numbers]") {
  std::string err;
  CHECK(attn::parse_integer_in("42", 0, 100, &err) == 42);
  CHECK(attn::parse_integer_in("-3", -5, 5, &err) == -3);
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "0x1", "1e2", "1.0", "101", "-6", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(attn::parse_integer_in(bad, -5, 100, &err));
  }
  CHECK(err == "must be an integer from -5 to 100, got '99999999999999999999'");
  CHECK(attn::parse_seconds_in("0.5", 0, true, 10, &err) == 0.5);
  CHECK(attn::parse_seconds_in("1e1", 0, true, 10, &err) == 10);
  for (const char* bad : {"0", "nan", "NaN", "inf", "infinity", "-1", "10.5", "0x1p1", " 1", "1s", "1e-400"}) {
    INFO(bad);
    CHECK_FALSE(attn::parse_seconds_in(bad, 0, true, 10, &err));
  }
  // The one timeout rule (src/judge/external.hpp), which --timeout applies after parsing strictly.
  CHECK(attn::timeout_problem(300) == "");
  CHECK(attn::timeout_problem(attn::kMaxSeconds) == "");
  for (double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(), attn::kMaxSeconds * 2}) {
    INFO(bad);
    CHECK_THAT(attn::timeout_problem(bad), Contains("must be a number of seconds > 0 and at most 604800"));
  }
  CHECK(attn::parse_bytes("8G") == 8ull << 30);
  CHECK(attn::parse_bytes("1.5GiB") == 3ull << 29);
  CHECK(attn::parse_bytes("1000000") == 1000000u);
  CHECK(attn::parse_bytes("1024T") == attn::kMaxMemoryBytes);
  for (const char* bad : {"", "0", "0.4", "-1", "nan", "inf", "1e9", "0x10", " 8G", "8G ", "8X", "1025T", ".5G"}) {
    INFO(bad);
    CHECK_FALSE(attn::parse_bytes(bad));
  }
}

TEST_CASE("cli numbers: --help shows each option's range", "[cli][cli_numbers]") {
  const auto r = run_cli("run --help");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("--seed UINT:0..9007199254740991"));
  CHECK_THAT(r.out, Contains("0..1024, 0 = one per core"));
  CHECK_THAT(r.out, Contains("--timeout FLOAT:>0..604800"));
}
