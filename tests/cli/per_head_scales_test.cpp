// Per-head fp8 K/V scales (kv_scale=per_head, docs/precision.md): one scale per KV head, max|x| of
// that head over batch, tokens and head_dim divided by the format's largest code, as vLLM's fp8 KV
// cache does; through make_inputs, the dump's case.json, compare, the JSON report.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"
#include "src/suite/dtype.hpp"
#include "src/suite/inputs.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::read_json;
using attn::test::run_cli;
using attn::test::TempDir;
using json = nlohmann::json;

namespace {

// Batch 2, 3 KV heads for 6 query heads, sinks: the head index is neither the outermost nor the innermost.
json per_head_case(const std::string& precision) {
  return {{"name", "ph"},  {"batch", 2},   {"tokens", 5},     {"kv_tokens", 7},           {"heads", 6},
          {"kv_heads", 3}, {"head_dim", 4}, {"causal", true}, {"sinks", {{"dist", "normal"}, {"std", 1.0}}},
          {"seed", 11},    {"precision", precision}};
}

CaseSpec load_case(const std::string& precision) {
  Suite s;
  Diagnostics diags;
  const bool ok = parse_suite({{"cases", {per_head_case(precision)}}}, "ph.json", {}, &s, &diags);
  INFO(precision << (diags.empty() ? "" : diags[0].format()));
  REQUIRE(ok);
  return s.cases.at(0);
}

// max|x| of KV head g over the bshd tensor [B, Sk, Hkv, D], divided by `limit`: computed here from the
// raw draws, not by the code under test.
std::vector<float> head_scales(const std::vector<float>& x, const Shape& s, float limit) {
  std::vector<float> out;
  for (std::int64_t g = 0; g < s.kv_heads; ++g) {
    float amax = 0.0f;
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t n = 0; n < s.kv_tokens; ++n)
        for (std::int64_t d = 0; d < s.head_dim; ++d)
          amax = std::max(amax, std::fabs(x[((b * s.kv_tokens + n) * s.kv_heads + g) * s.head_dim + d]));
    out.push_back(amax / limit);
  }
  return out;
}

std::vector<float> as_floats(const json& j) {
  std::vector<float> out;
  for (const json& x : j) out.push_back(x.get<float>());
  return out;
}

}  // namespace

TEST_CASE("per-head scales: one scale per KV head, max|x| of the head over 448", "[precision][per_head]") {
  const CaseSpec raw_case = load_case("fp32");  // the same draws, unquantised
  const Inputs raw = make_inputs(raw_case);
  const CaseSpec c = load_case("fp8-e4m3+kv_scale=per_head");
  const Shape& s = c.problem.shape;
  const Inputs in = make_inputs(c);
  for (const auto& [got, x, raw_x] : {std::tuple{&in.k_head_scales, &in.k, &raw.k}, std::tuple{&in.v_head_scales, &in.v, &raw.v}}) {
    const std::vector<float> want = head_scales(*raw_x, s, 448.0f);
    REQUIRE(got->size() == 3);
    CHECK(*got == want);
    CHECK(want[0] != want[1]);  // the heads really differ: a per-tensor scale would not pass
    CHECK(std::max({want[0], want[1], want[2]}) == e4m3_scale(*raw_x));
    // Each element is its head's scale times an e4m3 code.
    for (std::size_t i = 0; i < x->size(); ++i) {
      const float sc = want[(i / s.head_dim) % s.kv_heads];
      REQUIRE((*x)[i] == round_e4m3((*raw_x)[i] / sc) * sc);
    }
  }
  CHECK(in.k_scale == 1.0f);
  CHECK(in.v_scale == 1.0f);
  CHECK(in.q_scale == e4m3_scale(raw.q));  // Q and sinks keep a per-tensor scale
  CHECK(in.sinks_scale == e4m3_scale(raw.sinks));

  // Only the scaled tensor gets per-head scales: V in e5m2, K in bf16.
  const CaseSpec mixed = load_case("fp32+k=bf16+v=e5m2+kv_scale=per_head");
  const Inputs m = make_inputs(mixed);
  CHECK(m.k_head_scales.empty());
  CHECK(m.v_head_scales == head_scales(raw.v, s, 57344.0f));
  for (std::size_t i = 0; i < m.k.size(); ++i) REQUIRE(m.k[i] == round_bf16(raw.k[i]));

  // Stored again per tensor, the per-head scales go (compare --precision of a per-head dump).
  Inputs again = in;
  quantize_inputs(load_case("fp8-e4m3").recipe, s, again);
  CHECK(again.k_head_scales.empty());
  CHECK(again.v_head_scales.empty());
  CHECK(again.k_scale == e4m3_scale(in.k));
}

TEST_CASE("per-head scales: the dump lists them, compare reads them back, reports carry lists", "[precision][per_head][cli]") {
  TempDir dir("per_head");
  const CaseSpec c = load_case("fp8-e4m3+kv_scale=per_head");
  const Inputs in = make_inputs(c);
  for (const char* fmt : {"npy", "safetensors"}) {
    INFO(fmt);
    const std::string suite = dir.file("suite.json", json{{"cases", {per_head_case("fp8-e4m3+kv_scale=per_head")}}}.dump());
    const std::string out = (dir.path / fmt).string();
    const auto d = run_cli("dump -q -c " + suite + " --case ph --format " + fmt + " --out " + out);
    INFO(d.out);
    REQUIRE(d.code == 0);
    const json cj = read_json(out + "/case.json");
    const json& sc = cj["dump"]["input_scales"];
    REQUIRE(sc["k"].is_array());
    REQUIRE(sc["v"].is_array());
    CHECK(as_floats(sc["k"]) == in.k_head_scales);
    CHECK(as_floats(sc["v"]) == in.v_head_scales);
    CHECK(sc["q"].get<float>() == in.q_scale);
    CHECK(sc["sinks"].get<float>() == in.sinks_scale);
    CHECK(cj["dump"]["input_dtype"] == "e4m3");
    CHECK_FALSE(cj["dump"].contains("input_dtypes"));  // uniform inputs
    CHECK(cj["cases"][0]["precision"] == "fp8-e4m3+kv_scale=per_head");

    // The built-in kernel's own output passes against its dump; the report's scales are lists.
    const std::string report = (dir.path / (std::string(fmt) + ".json")).string();
    const auto r = run_cli("compare -q --inputs " + out + " --candidate " + out + "/tiled.npy --json " + report);
    INFO(r.out);
    CHECK(r.code == 0);
    const json rc = read_json(report)["cases"][0];
    CHECK(rc["precision"] == "fp8-e4m3+kv_scale=per_head");
    CHECK(as_floats(rc["input_scales"]["k"]) == in.k_head_scales);
    CHECK(as_floats(rc["input_scales"]["v"]) == in.v_head_scales);
    CHECK(rc["input_scales"]["q"].is_number());
  }
  // run's report too.
  const std::string suite = dir.file("run.json", json{{"cases", {per_head_case("fp8-e4m3+kv_scale=per_head")}}}.dump());
  const std::string report = (dir.path / "run_report.json").string();
  REQUIRE(run_cli("run -q -c " + suite + " --json " + report).code == 0);
  const json rc = read_json(report)["cases"][0];
  CHECK(as_floats(rc["input_scales"]["k"]) == in.k_head_scales);
  CHECK(as_floats(rc["input_scales"]["v"]) == in.v_head_scales);

  // A dump with mixed inputs names each tensor's dtype.
  const std::string mixed = dir.file("mixed.json", json{{"cases", {per_head_case("fp32+v=e4m3+kv_scale=per_head")}}}.dump());
  const std::string out = (dir.path / "mixed").string();
  REQUIRE(run_cli("dump -q -c " + mixed + " --case ph --out " + out).code == 0);
  const json info = read_json(out + "/case.json")["dump"];
  CHECK(info["input_dtype"] == "mixed");
  CHECK(info["input_dtypes"] == json{{"q", "f32"}, {"k", "f32"}, {"v", "e4m3"}, {"sinks", "f32"}});
  CHECK(info["input_scales"]["k"] == 1.0);
  CHECK(info["input_scales"]["v"].is_array());
  CHECK(run_cli("compare -q --inputs " + out + " --candidate " + out + "/tiled.npy").code == 0);
}

TEST_CASE("per-head scales: an edited per-head scale in a dump is refused", "[precision][per_head][cli]") {
  TempDir dir("per_head_edit");
  const std::string suite = dir.file("suite.json", json{{"cases", {per_head_case("fp8-e4m3+kv_scale=per_head")}}}.dump());
  const std::string out = (dir.path / "d").string();
  REQUIRE(run_cli("dump -q -c " + suite + " --case ph --out " + out).code == 0);
  json cj = read_json(out + "/case.json");
  cj["dump"]["input_scales"]["v"][1] = cj["dump"]["input_scales"]["v"][1].get<double>() * 2;
  dir.file("d/case.json", cj.dump(2));
  const auto r = run_cli("compare -q --inputs " + out + " --candidate " + out + "/tiled.npy");
  INFO(r.out);
  CHECK(r.code == 2);
  // The lists, not the unused per-tensor scale.
  const Inputs in = make_inputs(load_case("fp8-e4m3+kv_scale=per_head"));
  CHECK(r.out.find(fmt::format("the dumped scale of 'v' is [{}, {}, {}], the case generates [{}]", in.v_head_scales[0],
                               in.v_head_scales[1] * 2, in.v_head_scales[2], fmt::join(in.v_head_scales, ", "))) !=
        std::string::npos);
}
