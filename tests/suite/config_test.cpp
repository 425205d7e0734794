// Config loading: defaults merged into cases, and every error path naming file, case and key.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "src/suite/config.hpp"

using namespace attn;
using nlohmann::json;

namespace {

struct Loaded {
  bool ok;
  Suite suite;
  Diagnostics diags;
  std::string text() const {
    std::string s;
    for (const Diagnostic& d : diags) s += d.format() + "\n";
    return s;
  }
};

Loaded load(const json& doc, LoadOptions opt = {}) {
  Loaded l;
  l.ok = parse_suite(doc, "suite.json", opt, &l.suite, &l.diags);
  return l;
}

json one_case(json extra) {
  json c = {{"name", "c"}, {"tokens", 8}, {"heads", 2}, {"head_dim", 4}};
  c.merge_patch(extra);
  return {{"cases", {c}}};
}

void expect_error(const json& doc, const std::string& fragment) {
  const Loaded l = load(doc);
  INFO(doc.dump());
  INFO(l.text());
  CHECK_FALSE(l.ok);
  CHECK(l.text().find(fragment) != std::string::npos);
  CHECK(l.text().find("suite.json") != std::string::npos);
}

}  // namespace

TEST_CASE("config: defaults merge into cases, cases override, objects merge by key", "[config]") {
  const json doc = json::parse(R"({
    "suite": "s",
    "defaults": { "head_dim": 16, "precision": "fp32", "tiles": { "q": 4, "kv": 8 }, "seed": 3 },
    "cases": [
      { "name": "a", "tokens": 5, "heads": 4 },
      { "name": "b", "tokens": 6, "heads": 4, "kv_heads": 2, "kv_tokens": 10, "tiles": { "kv": 2 },
        "sinks": 0.5, "window": 3, "causal": false } ] })");
  const Loaded l = load(doc);
  INFO(l.text());
  REQUIRE(l.ok);
  REQUIRE(l.suite.cases.size() == 2);
  const CaseSpec& a = l.suite.cases[0];
  CHECK(a.problem.shape.head_dim == 16);
  CHECK(a.recipe.name == "fp32");
  CHECK(a.tiles.q == 4);
  CHECK(a.seed == 3);
  CHECK(a.problem.causal);  // default true
  CHECK(a.problem.shape.kv_tokens == 5);
  CHECK(a.problem.scale == 0.25);  // 1/sqrt(16)
  CHECK_FALSE(a.problem.has_sinks);
  const CaseSpec& b = l.suite.cases[1];
  CHECK(b.tiles.q == 4);
  CHECK(b.tiles.kv == 2);
  CHECK(b.problem.shape.q_offset == 4);  // kv_tokens - tokens
  CHECK(b.problem.shape.q_mult() == 2);
  CHECK(b.problem.has_sinks);
  CHECK(b.sinks.kind == SinksSpec::Kind::constant);
  CHECK_FALSE(b.problem.causal);
}

TEST_CASE("config: a resolved case loads back to itself", "[config]") {
  const json doc = json::parse(R"({ "cases": [ { "name": "x", "tokens": 7, "kv_tokens": 9, "heads": 6,
    "kv_heads": 3, "head_dim": 8, "window": 2, "sinks": { "dist": "uniform", "low": -1, "high": 2 },
    "gates": { "min_pearson": null, "max_abs": 0.5 } } ] })");
  const Loaded first = load(doc);
  REQUIRE(first.ok);
  const json resolved = first.suite.cases[0].to_json();
  const Loaded second = load({{"cases", {resolved}}});
  INFO(second.text());
  REQUIRE(second.ok);
  CHECK(second.suite.cases[0].to_json() == resolved);
  const auto& gates = second.suite.cases[0].gates;
  CHECK(std::none_of(gates.begin(), gates.end(), [](const GateSpec& g) { return g.name == "min_pearson"; }));
  CHECK(std::any_of(gates.begin(), gates.end(), [](const GateSpec& g) { return g.name == "max_abs" && g.bound == 0.5; }));
}

TEST_CASE("config: unknown keys suggest the nearest known key", "[config]") {
  expect_error(one_case({{"windw", 4}}), "case 'c': error: unknown key 'windw' (did you mean 'window'?)");
  expect_error(one_case({{"tiles", {{"kvv", 4}}}}), "unknown key 'tiles.kvv' (did you mean 'tiles.kv'?)");
  expect_error(one_case({{"inputs", {{"sdt", 1}}}}), "did you mean 'inputs.std'?");
  expect_error(one_case({{"gates", {{"max_ab", 1}}}}), "did you mean 'gates.max_abs'?");
  expect_error({{"cases", {{{"name", "c"}, {"tokens", 1}, {"heads", 1}, {"head_dim", 1}}}}, {"defualts", {}}},
               "did you mean 'defaults'?");
  expect_error({{"defaults", {{"head_dm", 4}}}, {"cases", {{{"name", "c"}, {"tokens", 1}, {"heads", 1}, {"head_dim", 1}}}}},
               "defaults: error: unknown key 'head_dm'");
  expect_error(one_case({{"precision", "bf16"}}), "did you mean 'bf16-mixed'?");
}

TEST_CASE("config: wrong types name the key", "[config]") {
  expect_error(one_case({{"tokens", "8"}}), "key 'tokens' must be an integer");
  expect_error(one_case({{"tokens", 8.5}}), "key 'tokens' must be an integer");
  expect_error(one_case({{"causal", 1}}), "key 'causal' must be true or false");
  expect_error(one_case({{"scale", "big"}}), "key 'scale' must be a number");
  expect_error(one_case({{"scale", -1}}), "key 'scale' must be a finite number > 0");
  expect_error(one_case({{"tiles", 128}}), "key 'tiles' must be an object");
  expect_error(one_case({{"sinks", "yes"}}), "key 'sinks' must be null, a number");
  expect_error(one_case({{"tags", "x"}}), "key 'tags' must be a list of strings");
  expect_error(one_case({{"inputs", {{"dist", "gauss"}}}}), "key 'inputs.dist' must be one of");
  expect_error(one_case({{"inputs", {{"dist", "uniform"}, {"low", 1}, {"high", 0}}}}), "must be below");
  expect_error(one_case({{"inputs", {{"dist", "integers"}, {"low", -1.5}, {"high", 2}}}}), "must be whole numbers");
  expect_error(one_case({{"inputs", {{"dist", "integers"}, {"low", 2}, {"high", 1}}}}), "must not be above");
  expect_error(one_case({{"tolerance", {{"atol", -1}}}}), "key 'tolerance.atol' must be a finite number >= 0");
  expect_error(one_case({{"mask_value", 5}}), "key 'mask_value' must be a negative number");
  expect_error(one_case({{"gates", {{"max_abs_vs_naive", "two"}}}}), "key 'gates.max_abs_vs_naive' must be a number");
  expect_error({{"cases", 3}}, "key 'cases' must be a non-empty list");
  expect_error(json::array(), "must hold a JSON object");
  expect_error({{"cases", {5}}}, "case #1: error: a case must be an object");
}

TEST_CASE("config: impossible shapes are refused", "[config]") {
  expect_error(one_case({{"kv_heads", 3}}), "key 'kv_heads' (3) must divide 'heads' (2)");
  expect_error(one_case({{"tokens", 0}}), "key 'tokens' must be at least 1, got 0");
  expect_error(one_case({{"head_dim", -4}}), "key 'head_dim' must be at least 1");
  expect_error(one_case({{"window", -1}}), "key 'window' must be at least 0");
  expect_error(one_case({{"q_offset", 3}, {"kv_tokens", 8}}), "q_offset (3) + tokens (8) > kv_tokens (8)");
  expect_error(one_case({{"sinks", {1, 2, 3}}}), "key 'sinks' has 3 values but the case has 2 heads");
  expect_error(one_case({{"tiles", {{"q", 0}}}}), "key 'tiles.q' must be at least 1");
  expect_error({{"cases", {{{"tokens", 1}, {"heads", 1}, {"head_dim", 1}}}}}, "missing key 'name'");
  expect_error({{"cases", {{{"name", "c"}, {"heads", 1}, {"head_dim", 1}}}}}, "missing key 'tokens'");
}

TEST_CASE("config: duplicate names are refused", "[config]") {
  const json c = {{"name", "same"}, {"tokens", 1}, {"heads", 1}, {"head_dim", 1}};
  expect_error({{"cases", {c, c}}}, "duplicate case name 'same'");
}

TEST_CASE("config: sizes that overflow or exceed the memory limit are refused before allocation", "[config]") {
  expect_error(one_case({{"tokens", 1ll << 40}, {"heads", 1ll << 20}, {"head_dim", 1ll << 20}}), "overflow");
  const Loaded big = load(one_case({{"tokens", 1 << 20}, {"heads", 64}, {"head_dim", 128}}));
  CHECK_FALSE(big.ok);
  CHECK(big.text().find("the case needs about") != std::string::npos);
  CHECK(big.text().find("--max-memory") != std::string::npos);
  // The same case fits once the limit is raised far enough.
  CHECK(load(one_case({{"tokens", 1 << 20}, {"heads", 64}, {"head_dim", 128}}), {.max_memory = 1ull << 50}).ok);
}

TEST_CASE("config: every problem in a file is reported, not just the first", "[config]") {
  const json doc = {{"cases", {{{"name", "a"}, {"tokens", 1}, {"heads", 1}, {"head_dim", 1}, {"windw", 1}},
                               {{"name", "b"}, {"tokens", 1}, {"heads", 1}, {"head_dim", 1}, {"causl", true}}}}};
  const Loaded l = load(doc);
  CHECK_FALSE(l.ok);
  CHECK(l.diags.size() == 2);
}

TEST_CASE("config: malformed JSON reports line and column", "[config]") {
  const std::string path = (std::filesystem::temp_directory_path() / "attn_diff_bad.json").string();
  {
    std::ofstream out(path);
    out << "{\n  \"cases\": [\n    { \"name\": \"a\", }\n  ]\n}\n";
  }
  Suite s;
  Diagnostics d;
  CHECK_FALSE(load_suite(path, {}, &s, &d));
  REQUIRE(d.size() == 1);
  CHECK(d[0].format().find(path + ":3:") != std::string::npos);
  CHECK(d[0].format().find("malformed JSON") != std::string::npos);
  std::filesystem::remove(path);
  d.clear();
  CHECK_FALSE(load_suite(path, {}, &s, &d));
  CHECK(d[0].format().find("cannot open") != std::string::npos);
}

TEST_CASE("config: the shipped suites load", "[config]") {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".json") continue;
    Suite s;
    Diagnostics d;
    INFO(entry.path());
    CHECK(load_suite(entry.path().string(), {}, &s, &d));
    CHECK(d.empty());
  }
}

TEST_CASE("config: tolerance presets", "[config]") {
  const Loaded torch = load(one_case({{"tolerance", "torch"}}));
  REQUIRE(torch.ok);
  CHECK(torch.suite.cases[0].tolerance.rtol == 1.6e-2);  // bf16-mixed outputs bf16
  CHECK(torch.suite.cases[0].tolerance.atol == 1e-5);
  const Loaded fp32 = load(one_case({{"tolerance", "torch"}, {"precision", "fp32"}}));
  REQUIRE(fp32.ok);
  CHECK(fp32.suite.cases[0].tolerance.rtol == 1.3e-6);
  expect_error(one_case({{"tolerance", "loose"}}), "key 'tolerance' names no preset");
}

TEST_CASE("config: backward and grad_output (SPEC §10)", "[config][backward]") {
  const Loaded off = load(one_case(json::object()));
  REQUIRE(off.ok);
  CHECK_FALSE(off.suite.cases[0].backward);
  CHECK_FALSE(off.suite.cases[0].to_json().contains("backward"));  // a forward case's object is what it was
  const Loaded on = load(one_case({{"backward", true}, {"inputs", {{"dist", "uniform"}, {"low", -1}, {"high", 1}}}}));
  INFO(on.text());
  REQUIRE(on.ok);
  const CaseSpec& c = on.suite.cases[0];
  CHECK(c.backward);
  CHECK(c.grad_output.dist == "uniform");  // by default dO is drawn like the inputs
  const Loaded own = load(one_case({{"backward", true}, {"grad_output", {{"dist", "normal"}, {"std", 0.5}}}}));
  REQUIRE(own.ok);
  CHECK(own.suite.cases[0].grad_output.std == 0.5);
  const json resolved = own.suite.cases[0].to_json();
  CHECK(resolved["backward"] == true);
  const Loaded back = load({{"cases", {resolved}}});
  REQUIRE(back.ok);
  CHECK(back.suite.cases[0].to_json() == resolved);
  CHECK(load({{"defaults", {{"backward", true}}}, {"cases", {{{"name", "c"}, {"tokens", 2}, {"heads", 1}, {"head_dim", 2}}}}})
            .suite.cases.at(0)
            .backward);
  expect_error(one_case({{"backward", 1}}), "key 'backward' must be true or false");
  expect_error(one_case({{"grad_output", {{"dist", "normal"}}}}), "key 'grad_output' is set but the case has no backward pass");
  expect_error(one_case({{"backward", true}, {"grad_output", {{"sdt", 1}}}}), "did you mean 'grad_output.std'?");
  expect_error(one_case({{"backward", true}, {"grad_output", {{"dist", "constant"}, {"value", 1e39}}}}), "grad_output");
  for (const char* recipe : {"fp8-e4m3", "int8", "fp32+acc_pv=fp16", "bf16-mixed+probs=e4m3"})
    expect_error(one_case({{"backward", true}, {"precision", recipe}}), "has no backward pass");
  for (const char* recipe : {"fp32", "bf16-mixed", "fp16-mixed", "fp32+kv=bf16", "fp32+probs=bf16"})
    CHECK(load(one_case({{"backward", true}, {"precision", recipe}})).ok);
}
