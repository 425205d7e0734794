// `attn-diff bench` and src/tools/bench.hpp: the useful-work count against a pair-by-pair count, the
// statistics of repeated timings, and the command end to end. No assertion here depends on how
// fast anything ran: only that times are positive and the report has its fields.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>

#include "src/tools/bench.hpp"
#include "tests/cli_helpers.hpp"
#include "tests/test_util.hpp"

using namespace attn;
using attn::test::run_cli;
using attn::test::TempDir;

namespace {

// Visible pairs counted one (query, key) pair at a time, from SPEC §2's wording, for every batch
// and head: what total_visible_pairs must equal without looping over masked pairs.
std::int64_t brute_pairs(const Problem& p) {
  const Shape& s = p.shape;
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < s.tokens; ++i) {
    const std::int64_t pos = s.q_offset + i;
    for (std::int64_t j = 0; j < s.kv_tokens; ++j) {
      bool vis = true;
      if (p.causal) vis = j <= pos && (p.window == 0 || j > pos - p.window);
      else if (p.window > 0) vis = std::llabs(pos - j) < p.window;
      n += vis;
    }
  }
  return n * s.batch * s.heads;
}

// Runs `attn-diff ARGS --json FILE` in a fresh folder; requires exit 0 and returns the JSON (and
// what was printed, in *printed).
nlohmann::json bench_json(const std::string& name, const std::string& args, std::string* printed = nullptr) {
  TempDir dir(name);
  const auto path = dir.file("bench.json");
  const auto r = run_cli(args + " --json " + path);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("validated:") != std::string::npos);
  if (printed) *printed = r.out;
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("visible pairs and useful flops match a pair-by-pair count", "[bench]") {
  for (bool causal : {true, false})
    for (std::int64_t W : {0, 1, 3, 8})
      for (std::int64_t Sk : {1, 7, 16})
        for (std::int64_t Sq : {1, 4, 7})
          for (std::int64_t offset : {std::int64_t(-3), std::int64_t(0), Sk - Sq, Sk - 1}) {
            if (offset + Sq > Sk) continue;  // queries past the last key: the loader refuses them
            Problem p = test::make_problem(2, Sq, Sk, 6, 3, 5, causal, W, false);
            p.shape.q_offset = offset;
            INFO("causal " << causal << " W " << W << " Sq " << Sq << " Sk " << Sk << " offset " << offset);
            CHECK(total_visible_pairs(p) == brute_pairs(p));
            CHECK(useful_flops(p) == 4.0 * 5 * double(brute_pairs(p)));
          }
}

TEST_CASE("useful flops of shapes whose count is known in closed form", "[bench]") {
  // Causal prefill: row i sees i + 1 keys, n(n + 1)/2 pairs per head.
  const Problem causal = test::make_problem(1, 2048, 2048, 64, 8, 64, true, 0, true);
  CHECK(total_visible_pairs(causal) == 2048ll * 2049 / 2 * 64);
  CHECK(useful_flops(causal) == 4.0 * 64 * (2048.0 * 2049 / 2) * 64);
  // Window 128: rows 0..127 see i + 1 keys, every later row 128.
  const Problem window = test::make_problem(1, 2048, 2048, 64, 8, 64, true, 128, true);
  CHECK(total_visible_pairs(window) == (128ll * 129 / 2 + (2048 - 128) * 128ll) * 64);
  // No mask: every pair, batch included.
  const Problem full = test::make_problem(3, 5, 9, 4, 2, 8, false, 0, false);
  CHECK(total_visible_pairs(full) == 3 * 5 * 9 * 4);
  // Decode: one query at the end of 8192 keys sees them all (or the window).
  Problem decode = test::make_problem(1, 1, 8192, 64, 8, 64, true, 0, true);
  CHECK(total_visible_pairs(decode) == 8192 * 64);
  decode.window = 128;
  CHECK(total_visible_pairs(decode) == 128 * 64);
}

TEST_CASE("summarize gives the median and the spread of repeated timings", "[bench]") {
  auto s = summarize({3.0, 1.0, 2.0});
  CHECK(s.median == 2.0);
  CHECK(s.min == 1.0);
  CHECK(s.max == 3.0);
  CHECK(s.seconds == std::vector<double>{3.0, 1.0, 2.0});  // run order kept
  s = summarize({4.0, 1.0, 2.0, 3.0});
  CHECK(s.median == 2.5);
  s = summarize({});
  CHECK(s.median == 0.0);
}

TEST_CASE("time_repeats runs the warm-up untimed and times each repeat", "[bench]") {
  int calls = 0;
  const TimingStats s = time_repeats([&] { ++calls; }, 2, 3);
  CHECK(calls == 5);
  CHECK(s.seconds.size() == 3);
  CHECK(s.min <= s.median);
  CHECK(s.median <= s.max);
}

TEST_CASE("the FMA probe reports a positive peak for one and all threads", "[bench]") {
  const PeakProbe p = measure_peak(2, 0.02);
  CHECK(p.threads == 2);
  CHECK(p.f32_one > 0);
  CHECK(p.f64_one > 0);
  CHECK(p.f32_all > 0);
  CHECK(p.f64_all > 0);
  CHECK((p.isa == "avx512" || p.isa == "avx2" || p.isa == "scalar"));
}

TEST_CASE("peak memory sees a 256 MiB buffer, and a reset forgets it once it is freed", "[bench]") {
  constexpr std::uint64_t big = 256ull << 20;
  reset_peak_memory();
  const std::uint64_t before = peak_memory_bytes();
  {
    std::vector<char> buffer(big, 1);  // written, so resident
    CHECK(peak_memory_bytes() >= before + big * 9 / 10);
  }
  if (peak_memory_resettable()) {
    reset_peak_memory();
    CHECK(peak_memory_bytes() < before + big / 2);
  }
  CHECK(!cpu_model().empty());
}

TEST_CASE("cli: bench validates, then times every stage, and writes JSON", "[cli][bench]") {
  std::string printed;
  const auto j = bench_json("bench_cli", "bench --tokens 40 --heads 4 --kv-heads 2 --head-dim 16 --window 9 --tiles 8x16 "
                                         "--repeats 2 --warmup 1 -j 2 --probe-seconds 0.02", &printed);
  CHECK(printed.find("machine:") != std::string::npos);
  for (const char* stage : {"golden", "naive", "tiled", "metrics"}) CHECK(printed.find(stage) != std::string::npos);
  CHECK(j["schema"] == "attn-diff.bench.v1");
  CHECK(j["validation"]["verdict"] == "pass");
  CHECK(j["threads"] == 2);
  CHECK(j["case"]["window"] == 9);
  CHECK(j["case"]["tiles"]["q"] == 8);
  CHECK(j["visible_pairs"].get<std::int64_t>() > 0);
  CHECK(j["peak"]["f64_gflops_all_threads"].get<double>() > 0);
  REQUIRE(j["stages"].size() == 4);
  for (const auto& s : j["stages"]) {
    INFO(s.dump());
    CHECK(s["seconds"]["median"].get<double>() > 0);
    CHECK(s["seconds"]["all"].size() == 2);
    CHECK(s["seconds"]["min"].get<double>() <= s["seconds"]["max"].get<double>());
    CHECK(s["peak_rss_bytes"].get<std::uint64_t>() > 0);
    CHECK(s["cpu_seconds_median"].get<double>() >= 0);
    if (s["name"] != "metrics") CHECK(s["gflops"].get<double>() > 0);
  }
  CHECK(j["stages"][0]["peak_kind"] == "f64");
  CHECK(j["stages"][2]["peak_kind"] == "f32");
}

TEST_CASE("cli: bench times one case of a suite and only the stages asked for", "[cli][bench]") {
  const auto j = bench_json("bench_case", "bench -c configs/phase1.json --case sinks_small_tiles --only tiled,run "
                                          "--repeats 1 --probe-seconds 0");
  CHECK(j["case"]["name"] == "sinks_small_tiles");
  CHECK(j["peak"].is_null());
  REQUIRE(j["stages"].size() == 2);
  CHECK(j["stages"][0]["name"] == "tiled");
  CHECK(j["stages"][1]["name"] == "run");
  CHECK(j["stages"][0]["peak_share"].is_null());  // no probe, no share
}

TEST_CASE("cli: bench refuses bad options with exit 2", "[cli][bench]") {
  const std::string tiny = " --tokens 8 --heads 2 --kv-heads 1 --head-dim 4 --probe-seconds 0";
  for (const std::string& args : std::vector<std::string>{
        "bench --only golden,bogus" + tiny, "bench --repeats 0" + tiny, "bench --warmup -1" + tiny, "bench --tiles 12" + tiny, "bench --tiles 0x8" + tiny, "bench --precision fp7" + tiny,
        "bench --tokens 8 --heads 3 --kv-heads 2", "bench -c configs/phase1.json --tokens 8",
        "bench -c configs/phase1.json", "bench -c configs/phase1.json --case nothing_here",
        "bench -c configs/phase1.json --case 'sinks*'", "bench --case sinks" + tiny,
        "bench --max-memory lots" + tiny, "bench --bogus"}) {
    const auto r = run_cli(args);
    INFO(args << "\n" << r.out);
    CHECK(r.code == 2);
  }
  const auto help = run_cli("bench --help");
  CHECK(help.code == 0);
  CHECK(help.out.find("Examples") != std::string::npos);
}

TEST_CASE("cli: bench --backward times the backward stages on their own FLOP counts, and refuses them on a forward case",
          "[cli][bench][backward]") {
  const Problem p = test::make_problem(1, 40, 40, 4, 2, 16, true, 9, true);
  const double pairs = double(total_visible_pairs(p));
  CHECK(useful_backward_flops(p) == 10.0 * 16 * pairs);  // dS, dQ, dK, dV and the recomputed QKᵀ: 2.5 × forward
  std::string printed;
  const auto j = bench_json("bench_bwd", "bench --backward --tokens 40 --heads 4 --kv-heads 2 --head-dim 16 --window 9 "
                                         "--tiles 8x16 --repeats 2 --warmup 0 -j 1 --probe-seconds 0.02 "
                                         "--only tiled,golden_bwd,naive_bwd,tiled_bwd,run,run_forward", &printed);
  CHECK(j["case"]["backward"] == true);
  CHECK(j["visible_pairs"].get<double>() == pairs);
  CHECK(j["useful_backward_flops"].get<double>() == 10.0 * 16 * pairs);
  std::map<std::string, nlohmann::json> stage;
  for (const auto& s : j["stages"]) stage[s["name"]] = s;
  REQUIRE(stage.size() == 6);
  // GFLOP/s × median seconds gives back each stage's count: the tiled backward's useful FLOPs, and for
  // the references' fused forward + backward pass 14·D per visible pair.
  const auto flops = [&](const char* name) {
    return stage[name]["gflops"].get<double>() * stage[name]["seconds"]["median"].get<double>() * 1e9;
  };
  CHECK(flops("tiled_bwd") == Approx(10.0 * 16 * pairs).epsilon(1e-6));
  CHECK(flops("golden_bwd") == Approx(14.0 * 16 * pairs).epsilon(1e-6));
  CHECK(flops("naive_bwd") == Approx(14.0 * 16 * pairs).epsilon(1e-6));
  CHECK(flops("tiled") == Approx(4.0 * 16 * pairs).epsilon(1e-6));
  CHECK(stage["golden_bwd"]["peak_kind"] == "f64");
  CHECK(stage["tiled_bwd"]["peak_kind"] == "f32");
  CHECK(stage["run"]["gflops"].is_null());
  CHECK(printed.find("backward run / forward run: ") != std::string::npos);

  for (const char* only : {"tiled_bwd", "run_forward", "golden_bwd"}) {
    const auto r = run_cli(std::string("bench --tokens 40 --heads 4 --kv-heads 2 --head-dim 16 --probe-seconds 0 --only ") + only);
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(std::string("--only ") + only + " needs a backward case") != std::string::npos);
  }
}
