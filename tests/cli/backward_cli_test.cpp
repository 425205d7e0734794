// The backward pass through the command line (SPEC §10): `run` of configs/backward.json judges
// every tensor and says so in its JSON; `dump` writes dO and golden's LSE and gradients, exactly
// the values golden computes; a candidate command hands its tensors back in one .safetensors file.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "kernels/backward.hpp"
#include "src/io/npy.hpp"
#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"
#include "tests/cli_helpers.hpp"

using attn::test::read_json;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using json = nlohmann::json;

TEST_CASE("backward cli: run judges lse, dq, dk, dv and dsinks and reports them", "[backward][cli]") {
  TempDir dir("backward_run");
  const std::string report = dir.file("r.json");
  const auto r = run_cli("run -c configs/backward.json --case prefill_full --case prefill_no_sinks --json " + report);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("bwd") && Contains("2 cases, 2 passed"));
  const json j = read_json(report);
  for (const json& c : j["cases"]) {
    INFO(c["name"]);
    CHECK(c["features"]["backward"] == true);
    const bool sinks = c["features"]["sinks"];
    CHECK(c["tensors"].size() == (sinks ? 5u : 4u));
    for (const auto& [name, t] : c["tensors"].items()) {
      INFO(name);
      CHECK(t["metrics"]["vs_golden"]["max_abs"].get<double>() >= 0.0);
      CHECK(t["metrics"]["naive_vs_golden"]["max_abs"].get<double>() > 0.0);  // bf16-mixed: naive rounds
      for (const json& g : t["gates"]) CHECK(g["pass"] == true);
    }
  }
  // A forward bug shows in the tensors it breaks: no_sinks fails on the LSE and dsinks.
  const auto m = run_cli("run -c configs/backward.json --case prefill_full --mutant no_sinks --no-diagnose");
  CHECK(m.code == 1);
  CHECK_THAT(m.out, Contains("lse: gate max_abs_vs_naive") && Contains("dsinks: gate"));
}

TEST_CASE("backward cli: dump writes do.npy and golden's tensors", "[backward][cli]") {
  TempDir dir("backward_dump");
  const auto r = run_cli("dump -c configs/backward.json --case decode_chunk_window_128 --out " + dir.file("d"));
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("do.npy (float32) golden_lse.npy golden_dq.npy golden_dk.npy golden_dv.npy golden_dsinks.npy"));
  attn::Suite s;
  attn::Diagnostics d;
  REQUIRE(attn::load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/backward.json", {}, &s, &d));
  const attn::CaseSpec* c = nullptr;
  for (const attn::CaseSpec& x : s.cases)
    if (x.name == "decode_chunk_window_128") c = &x;
  REQUIRE(c);
  const attn::Inputs in = attn::make_inputs(*c, 1);
  const attn::Gradients<double> g = attn::golden_backward(c->problem, in, 1);
  auto read = [&](const std::string& file) {
    attn::Array a;
    std::string err;
    REQUIRE(attn::read_npy(dir.file("d/" + file), &a, &err));
    return a;
  };
  const attn::Array dout = read("do.npy");
  CHECK(dout.dtype == attn::ArrayDType::f32);
  CHECK(std::vector<double>(in.dout.begin(), in.dout.end()) == dout.values);
  CHECK(read("golden_dq.npy").values == g.dq);
  CHECK(read("golden_dk.npy").values == g.dk);
  CHECK(read("golden_dv.npy").values == g.dv);
  CHECK(read("golden_dsinks.npy").values == g.dsinks);
  CHECK(read("golden_dsinks.npy").shape == std::vector<std::int64_t>{64});
  CHECK(read("golden_lse.npy").shape == std::vector<std::int64_t>{1, 64, 4});
  const json info = read_json(dir.file("d/case.json"));
  CHECK(info["dump"]["files"].contains("do"));
  CHECK(info["dump"]["files"].contains("golden_dq"));
}

TEST_CASE("backward cli: an external candidate's tensors come in one .safetensors file", "[backward][cli]") {
  TempDir dir("backward_external");
  // The candidate writes the correct tiled kernel's tensors (tests/helpers/candidate_main.cpp).
  const auto ok = run_cli(std::string("run -c configs/backward.json --case decode_chunk_window_128 --candidate-cmd '") +
                          ATTN_DIFF_CANDIDATE + " correct {inputs} {out}' --json " + dir.file("r.json"));
  INFO(ok.out);
  CHECK(ok.code == 0);
  CHECK(read_json(dir.file("r.json"))["cases"][0]["tensors"].size() == 5);
  // A backward mutant handed back the same way fails on the gradients it breaks, and only there.
  const auto mutant = run_cli(std::string("run -c configs/backward.json --case prefill_full --candidate-cmd '") +
                              ATTN_DIFF_CANDIDATE + " mutant:bwd_dkv_one_head {inputs} {out}'");
  INFO(mutant.out);
  CHECK(mutant.code == 1);
  CHECK_THAT(mutant.out, Contains("dk: gate max_abs_vs_naive") && Contains("dv: gate max_abs_vs_naive"));
  CHECK_THAT(mutant.out, !Contains("dq: gate") && !Contains("lse: gate"));
  // An .npy file cannot hold them: an error that says what to write.
  const auto npy = run_cli(std::string("run -c configs/backward.json --case prefill_no_sinks --candidate-cmd '") +
                           ATTN_DIFF_CANDIDATE + " variant:split_kv {inputs} {out}'");
  INFO(npy.out);
  CHECK(npy.code == 3);
  CHECK_THAT(npy.out, Contains("an .npy file holds one tensor, and this case needs 'out', 'dq', 'dk', 'dv' (SPEC §10)") &&
                          Contains("one .safetensors file"));
  const auto bad = run_cli("run -c configs/backward.json --precision fp8-e4m3");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.out, Contains("key 'backward': the fp8-e4m3 recipe has no backward pass"));
}
