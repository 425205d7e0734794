// Precision recipes as data (src/suite/recipe.hpp, docs/precision.md): the text form, canonical
// names, the errors naming the bad part, describe_recipe_change, and the JSON object form in a suite.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"
#include "src/suite/recipe.hpp"

using namespace attn;
using json = nlohmann::json;

namespace {

Recipe parsed(const std::string& text) {
  std::string err;
  const std::optional<Recipe> r = parse_recipe_text(text, &err);
  INFO(text << ": " << err);
  REQUIRE(r);
  return *r;
}

std::string parse_error(const std::string& text) {
  std::string err;
  const std::optional<Recipe> r = parse_recipe_text(text, &err);
  INFO(text);
  REQUIRE_FALSE(r);
  return err;
}

// One case with `extra` merged in, loaded as a suite from text; the diagnostics, formatted.
std::string load_one(const json& extra, Suite* out = nullptr) {
  json c = {{"name", "c"}, {"tokens", 4}, {"heads", 2}, {"head_dim", 4}};
  c.update(extra);
  Suite s;
  Diagnostics diags;
  const bool ok = parse_suite({{"cases", {c}}}, "s.json", {}, &s, &diags);
  if (out && ok) *out = s;
  std::string text;
  for (const Diagnostic& d : diags) text += d.format() + "\n";
  CHECK(ok == text.empty());
  return text;
}

Recipe case_recipe(const json& extra) {
  Suite s;
  const std::string err = load_one(extra, &s);
  INFO(extra.dump() << ": " << err);
  REQUIRE(err.empty());
  REQUIRE(s.cases.size() == 1);
  return s.cases[0].recipe;
}

}  // namespace

TEST_CASE("recipe: every preset's canonical name and spec is its name, and it parses back to itself", "[recipe]") {
  const std::vector<std::string> names = recipe_names();
  CHECK(names == std::vector<std::string>{"fp32", "bf16-mixed", "fp16-mixed", "fp8-e4m3", "int8"});
  for (const std::string& n : names) {
    INFO(n);
    const Recipe r = *recipe_by_name(n);
    CHECK(r.name == n);
    CHECK(r.preset == n);
    CHECK(recipe_name(r) == n);
    CHECK(recipe_spec(r) == n);
    const Recipe back = parsed(n);
    CHECK(back.name == n);
    CHECK(back.note == r.note);  // a preset keeps its own note
    CHECK(describe_recipe_change(r, back).empty());
  }
  CHECK_FALSE(recipe_by_name("bf16"));
  CHECK_FALSE(recipe_by_name("fp32+k=fp16"));  // presets only
}

TEST_CASE("recipe: the canonical name lists overrides in key order, whatever order they were written in", "[recipe]") {
  struct Row {
    const char* text;
    const char* name;
  };
  // By construction from the key order q, k, v, sinks, scores, probs, acc_pv, acc_rowsum, output, kv_scale.
  const Row rows[] = {
      {"fp32+v=fp16+k=fp16", "fp32+k=fp16+v=fp16"},
      {"fp32+k=fp16+v=fp16", "fp32+k=fp16+v=fp16"},
      {"fp32+kv=fp16", "fp32+k=fp16+v=fp16"},
      {"fp32+kv=f16", "fp32+k=fp16+v=fp16"},
      {"fp32+acc_pv=f16+kv=fp16", "fp32+k=fp16+v=fp16+acc_pv=fp16"},
      {"fp32+inputs=bf16", "fp32+q=bf16+k=bf16+v=bf16+sinks=bf16"},
      {"fp32+output=bf16+acc_rowsum=fp16+scores=bf16+sinks=fp16+probs=bf16",
       "fp32+sinks=fp16+scores=bf16+probs=bf16+acc_rowsum=fp16+output=bf16"},
      {"fp32+probs=fp8-e4m3", "fp32+probs=e4m3"},
      {"fp32+probs=fp8-e5m2", "fp32+probs=e5m2"},
      {"fp32+q=int8+k=int8", "fp32+q=int8+k=int8"},
      {"fp32+inputs=int8", "fp32+q=int8+k=int8+v=int8+sinks=int8"},
      {"fp8-e4m3+kv_scale=per_head", "fp8-e4m3+kv_scale=per_head"},
      {"fp8-e4m3+kv_scale=per_head+kv=e5m2", "fp8-e4m3+k=e5m2+v=e5m2+kv_scale=per_head"},
      {"fp32+v=e4m3+kv_scale=per_head", "fp32+v=e4m3+kv_scale=per_head"},
      {"bf16-mixed+acc_pv=bf16", "bf16-mixed+acc_pv=bf16"},
      {"int8+output=bf16", "int8+output=bf16"},
      // The last value of a key wins; `kv` and `inputs` are applied where they stand.
      {"fp32+k=bf16+k=fp16", "fp32+k=fp16"},
      {"fp32+inputs=bf16+kv=fp16", "fp32+q=bf16+k=fp16+v=fp16+sinks=bf16"},
      {"fp32+kv=fp16+inputs=bf16", "fp32+q=bf16+k=bf16+v=bf16+sinks=bf16"},
      // Overrides equal to the preset vanish.
      {"bf16-mixed+q=bf16", "bf16-mixed"},
      {"bf16-mixed+inputs=bf16+probs=bf16", "bf16-mixed"},
      {"fp32+k=fp16+k=fp32", "fp32"},
      {"fp32+kv_scale=per_tensor", "fp32"},
      {"fp8-e4m3+kv=e4m3+output=bf16", "fp8-e4m3"},
      {"fp32+mask_value=-inf+exp2=false", "fp32"},
      {"int8+inputs=int8", "int8"},
  };
  for (const Row& row : rows) {
    INFO(row.text);
    const Recipe r = parsed(row.text);
    CHECK(r.name == row.name);
    CHECK(recipe_name(r) == row.name);
    CHECK(recipe_spec(r) == row.name);  // no exp2 nor mask_value here
    // The name is a fixed point: it parses to the same recipe, field by field.
    const Recipe back = parsed(r.name);
    CHECK(back.name == r.name);
    CHECK(describe_recipe_change(r, back).empty());
    CHECK(back.note == r.note);
  }
}

TEST_CASE("recipe: exp2 and mask_value are in the spec, not the name, and round-trip", "[recipe]") {
  const Recipe a = parsed("fp32+mask_value=-1e6+exp2=true+kv=fp16");
  CHECK(a.name == "fp32+k=fp16+v=fp16");
  CHECK(a.exp2);
  CHECK(a.mask_value == -1e6f);
  const std::string spec = recipe_spec(a);
  CHECK(spec.rfind("fp32+k=fp16+v=fp16+exp2=true+mask_value=", 0) == 0);
  const Recipe b = parsed(spec);
  CHECK(recipe_spec(b) == spec);
  CHECK(b.mask_value == -1e6f);
  CHECK(b.exp2);

  const Recipe c = parsed("bf16-mixed+exp2=true");
  CHECK(c.name == "bf16-mixed");
  CHECK(recipe_spec(c) == "bf16-mixed+exp2=true");
  const Recipe d = parsed("fp32+mask_value=-0.5");
  CHECK(d.mask_value == -0.5f);
  CHECK(recipe_spec(d) == "fp32+mask_value=-0.5");
}

TEST_CASE("recipe: the fields a text sets", "[recipe]") {
  const Recipe r = parsed("fp32+kv=fp16+acc_pv=fp16");
  CHECK(r.preset == "fp32");
  CHECK(r.q == DType::f32);
  CHECK(r.k == DType::f16);
  CHECK(r.v == DType::f16);
  CHECK(r.sinks == DType::f32);
  CHECK(r.acc_pv == DType::f16);
  CHECK(r.eager == DType::f32);  // overrides keep the preset's eager dtype
  CHECK(r.narrow_internals());
  CHECK_FALSE(r.uniform_inputs());
  CHECK(input_dtype_label(r) == "mixed");
  CHECK(input_dtype_label(parsed("fp32")) == "f32");
  CHECK(input_dtype_label(parsed("fp32+inputs=bf16")) == "bf16");
  CHECK(r.note.find("P·V accumulated in fp16") != std::string::npos);
  CHECK(parsed("fp32+kv=fp16").note.empty());  // inputs only: the eager reference rounds like it
  CHECK(parsed("fp8-e4m3").note == recipe_by_name("fp8-e4m3")->note);
  const Recipe h = parsed("fp8-e4m3+kv_scale=per_head");
  CHECK(h.kv_scale == ScaleScheme::per_head);
  CHECK(h.scaled_input());
  CHECK_FALSE(parsed("fp32+kv=bf16").scaled_input());
}

TEST_CASE("recipe: errors name the bad part and what is allowed", "[recipe]") {
  struct Row {
    const char* text;
    std::vector<const char*> fragments;
  };
  const Row rows[] = {
      {"bf16", {"'bf16' is not a recipe: a preset (fp32, bf16-mixed, fp16-mixed, fp8-e4m3, int8)"}},
      {"", {"'' is not a recipe"}},
      {"bf16+k=fp16", {"'bf16' is not a recipe"}},
      {"fp32+", {"'' in 'fp32+' is not key=value"}},
      {"fp32+k", {"'k' in 'fp32+k' is not key=value"}},
      {"fp32+=fp16", {"'=fp16' in 'fp32+=fp16' is not key=value"}},
      {"fp32+k=fp16+", {"'' in 'fp32+k=fp16+' is not key=value"}},
      {"fp32+acc_p=fp16", {"unknown recipe key 'acc_p' (did you mean 'acc_pv'?)", "the keys are q, k, v, sinks, scores"}},
      {"fp32+prob=bf16", {"unknown recipe key 'prob' (did you mean 'probs'?)"}},
      {"fp32+kv_scales=per_head", {"unknown recipe key 'kv_scales' (did you mean 'kv_scale'?)"}},
      {"fp32+k=fp64", {"'k' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, got 'fp64'"}},
      {"fp32+kv=half", {"'kv' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, got 'half'"}},
      {"fp32+inputs=", {"'inputs' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, got ''"}},
      {"fp32+scores=e4m3", {"'scores' must be one of fp32, bf16, fp16, got 'e4m3'"}},
      {"fp32+acc_pv=int8", {"'acc_pv' must be one of fp32, bf16, fp16, got 'int8'"}},
      {"fp32+acc_rowsum=e5m2", {"'acc_rowsum' must be one of fp32, bf16, fp16, got 'e5m2'"}},
      {"fp32+probs=int8", {"'probs' must be one of fp32, bf16, fp16, e4m3, e5m2, got 'int8'"}},
      {"fp32+k=FP16", {"'k' must be one of"}},  // spellings are exact
      {"fp32+q=int8", {"q and k are int8 together or not at all"}},
      {"fp32+k=int8", {"q and k are int8 together or not at all"}},
      {"int8+q=fp32", {"q and k are int8 together or not at all"}},
      {"fp32+kv=int8", {"q and k are int8 together or not at all"}},
      {"fp32+kv_scale=per_head", {"kv_scale per_head needs K or V in e4m3 or e5m2"}},
      {"bf16-mixed+kv_scale=per_head", {"kv_scale per_head needs K or V in e4m3 or e5m2"}},
      {"fp32+q=e4m3+kv_scale=per_head", {"kv_scale per_head needs K or V in e4m3 or e5m2"}},
      {"fp32+q=int8+k=int8+v=e4m3+kv_scale=per_head", {"kv_scale per_head needs fp8 K"}},
      {"fp8-e4m3+kv_scale=per_row", {"'kv_scale' must be per_tensor or per_head, got 'per_row'"}},
      {"fp32+exp2=1", {"'exp2' must be true or false, got '1'"}},
      {"fp32+mask_value=1", {"'mask_value' must be a negative number or -inf, got '1'"}},
      {"fp32+mask_value=0", {"'mask_value' must be a negative number or -inf, got '0'"}},
      {"fp32+mask_value=-0", {"'mask_value' must be a negative number or -inf, got '-0'"}},
      {"fp32+mask_value=inf", {"'mask_value' must be a negative number or -inf, got 'inf'"}},
      {"fp32+mask_value=nan", {"'mask_value' must be a negative number or -inf"}},
      {"fp32+mask_value=-1e39", {"'mask_value' must be a negative number or -inf, got '-1e39'"}},  // -inf as float
      {"fp32+mask_value=-5x", {"'mask_value' must be a negative number or -inf, got '-5x'"}},
  };
  for (const Row& row : rows) {
    const std::string err = parse_error(row.text);
    INFO(row.text << " -> " << err);
    for (const char* f : row.fragments) CHECK(err.find(f) != std::string::npos);
  }
}

TEST_CASE("recipe: describe_recipe_change says what rounds differently, in words", "[recipe]") {
  const Recipe fp32 = parsed("fp32");
  CHECK(describe_recipe_change(fp32, parsed("fp32+kv=fp16+acc_pv=fp16")) ==
        "K and V stored as fp16, P·V accumulated in fp16");
  CHECK(describe_recipe_change(fp32, parsed("fp32+k=fp16")) == "K stored as fp16");
  CHECK(describe_recipe_change(fp32, parsed("fp32+k=fp16+v=bf16")) == "K stored as fp16, V stored as bf16");
  CHECK(describe_recipe_change(parsed("fp32+k=fp16"), parsed("fp32+q=fp16+k=fp16")) == "Q stored as fp16 (K's format)");
  CHECK(describe_recipe_change(fp32, parsed("fp32+sinks=bf16+scores=bf16+probs=bf16+acc_rowsum=fp16+output=bf16")) ==
        "sinks stored as bf16, scores rounded to bf16, P rounded to bf16, the row sum accumulated in fp16, O rounded to "
        "bf16");
  CHECK(describe_recipe_change(parsed("fp8-e4m3"), parsed("fp8-e4m3+kv_scale=per_head")) == "K/V scales per head");
  CHECK(describe_recipe_change(parsed("fp8-e4m3+kv_scale=per_head"), parsed("fp8-e4m3")) == "K/V scales per tensor");
  CHECK(describe_recipe_change(fp32, parsed("fp32+exp2=true")) == "exp2 with log2(e) folded into the scale");
  CHECK(describe_recipe_change(parsed("fp32+exp2=true"), fp32) == "exp, not exp2");
  CHECK(describe_recipe_change(fp32, parsed("fp32+mask_value=-0.5")) == "masked scores set to -0.5");
  CHECK(describe_recipe_change(parsed("fp32+mask_value=-0.5"), fp32) == "masked scores set to -inf");
  // Two presets: every point that differs, in key order.
  CHECK(describe_recipe_change(fp32, parsed("bf16-mixed")) ==
        "Q stored as bf16, K and V stored as bf16, sinks stored as bf16, P rounded to bf16, O rounded to bf16");
  CHECK(describe_recipe_change(fp32, fp32).empty());
}

TEST_CASE("recipe: the JSON object form in a suite file equals the string form", "[recipe][config]") {
  CHECK(case_recipe({{"precision", {{"preset", "fp32"}, {"kv", "fp16"}}}}).name == "fp32+k=fp16+v=fp16");
  CHECK(case_recipe({{"precision", {{"preset", "fp32"}, {"acc_pv", "fp16"}, {"kv", "f16"}}}}).name ==
        "fp32+k=fp16+v=fp16+acc_pv=fp16");
  CHECK(case_recipe({{"precision", "fp32+v=fp16+k=fp16"}}).name == "fp32+k=fp16+v=fp16");
  CHECK(case_recipe({{"precision", {{"preset", "bf16-mixed"}}}}).name == "bf16-mixed");
  CHECK(case_recipe({{"precision", {{"preset", "bf16-mixed"}, {"q", "bf16"}}}}).name == "bf16-mixed");
  const Recipe o = case_recipe({{"precision", {{"preset", "fp32"}, {"exp2", true}, {"mask_value", -1e6}}}});
  CHECK(o.name == "fp32");
  CHECK(o.exp2);
  CHECK(o.mask_value == -1e6f);
  CHECK(case_recipe({{"precision", {{"preset", "fp8-e4m3"}, {"kv_scale", "per_head"}}}}).name ==
        "fp8-e4m3+kv_scale=per_head");
  // The case's written precision is what its JSON (dumps, shrunk suites) carries: the canonical name.
  Suite s;
  REQUIRE(load_one({{"precision", {{"preset", "fp32"}, {"v", "fp16"}, {"k", "fp16"}}}}, &s).empty());
  CHECK(s.cases[0].to_json()["precision"] == "fp32+k=fp16+v=fp16");
}

TEST_CASE("recipe: a case's exp2 and mask_value apply to the preset, an override in precision wins", "[recipe][config]") {
  // The case's keys alone.
  Recipe r = case_recipe({{"precision", "fp32"}, {"exp2", true}, {"mask_value", -1e4}});
  CHECK(r.exp2);
  CHECK(r.mask_value == -1e4f);
  CHECK(r.name == "fp32");
  // The override wins, in the string form and in the object form.
  r = case_recipe({{"precision", "fp32+exp2=false"}, {"exp2", true}});
  CHECK_FALSE(r.exp2);
  r = case_recipe({{"precision", "fp32+exp2=true"}, {"exp2", false}});
  CHECK(r.exp2);
  r = case_recipe({{"precision", "fp32+mask_value=-inf"}, {"mask_value", -1e4}});
  CHECK(std::isinf(r.mask_value));
  r = case_recipe({{"precision", {{"preset", "fp32"}, {"mask_value", -1e5}}}, {"mask_value", -1e4}});
  CHECK(r.mask_value == -1e5f);
  r = case_recipe({{"precision", {{"preset", "fp32"}, {"mask_value", "-inf"}}}, {"mask_value", -1e4}});
  CHECK(std::isinf(r.mask_value));
  r = case_recipe({{"precision", {{"preset", "fp32"}, {"exp2", false}}}, {"exp2", true}});
  CHECK_FALSE(r.exp2);
  // The written case keeps the effective values in its own keys.
  Suite s;
  REQUIRE(load_one({{"precision", "fp32+exp2=false+mask_value=-1e6"}, {"exp2", true}, {"mask_value", -1e4}}, &s).empty());
  const json j = s.cases[0].to_json();
  CHECK(j["precision"] == "fp32");
  CHECK(j["exp2"] == false);
  CHECK(j["mask_value"] == -1e6);
}

TEST_CASE("recipe: a bad precision in a suite names the file, the case and the key", "[recipe][config]") {
  struct Row {
    json precision;
    std::vector<const char*> fragments;
  };
  const Row rows[] = {
      {"bf16", {"s.json: case 'c': error: key 'precision' must be one of fp32, bf16-mixed, fp16-mixed, fp8-e4m3, int8, "
                "got \"bf16\" (did you mean 'bf16-mixed'?)",
                "note: a preset may take +key=value overrides"}},
      {"bf16+kv=fp16", {"key 'precision' must be one of", "got \"bf16\""}},
      {"fp32+kvv=fp16", {"s.json: case 'c': error: key 'precision': unknown recipe key 'kvv' (did you mean 'kv'?)",
                         "note: a recipe is a preset with overrides; the keys and their values are in docs/precision.md"}},
      {"fp32+k=fp64", {"s.json: case 'c': error: key 'precision': 'k' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, "
                       "got 'fp64'"}},
      {"fp32+", {"key 'precision': '' in 'fp32+' is not key=value"}},
      {"fp32+q=int8", {"key 'precision': q and k are int8 together or not at all"}},
      {"fp32+kv_scale=per_head", {"key 'precision': kv_scale per_head needs K or V in e4m3 or e5m2"}},
      {{{"kv", "fp16"}}, {"key 'precision': an object needs \"preset\": one of fp32, bf16-mixed"}},
      {{{"preset", "bf16"}}, {"key 'precision': an object needs \"preset\": one of fp32", ", got \"bf16\""}},
      {{{"preset", 3}}, {"an object needs \"preset\"", ", got 3"}},
      {{{"preset", "fp32"}, {"kv", json::array({"fp16"})}}, {"key 'precision': 'kv' must be a string, got a list"}},
      {{{"preset", "fp32"}, {"kvv", "fp16"}}, {"key 'precision': unknown recipe key 'kvv' (did you mean 'kv'?)"}},
      {{{"preset", "fp32"}, {"scores", "e4m3"}}, {"key 'precision': 'scores' must be one of fp32, bf16, fp16, got 'e4m3'"}},
      {{{"preset", "fp32"}, {"mask_value", 1}}, {"key 'precision': 'mask_value' must be a negative number or -inf, got '1'"}},
      {{{"preset", "fp32"}, {"exp2", "yes"}}, {"key 'precision': 'exp2' must be true or false, got 'yes'"}},
      {3, {"key 'precision' must be one of fp32", "got 3"}},
      {json::array({"fp32"}), {"key 'precision' must be one of fp32", "got [\"fp32\"]"}},
  };
  for (const Row& row : rows) {
    const std::string err = load_one({{"precision", row.precision}});
    INFO(row.precision.dump() << " -> " << err);
    CHECK_FALSE(err.empty());
    for (const char* f : row.fragments) CHECK(err.find(f) != std::string::npos);
  }
  // The case's own keys are checked too.
  CHECK(load_one({{"mask_value", 1}}).find("s.json: case 'c': error: key 'mask_value' must be a negative number or \"-inf\", got 1") !=
        std::string::npos);
  CHECK(load_one({{"mask_value", "-5"}}).find("key 'mask_value' must be a negative number or \"-inf\", got \"-5\"") !=
        std::string::npos);
  // Past float32's range a finite number would silently become -inf: refused like the text form's -1e39.
  CHECK(load_one({{"mask_value", -1e300}}).find("key 'mask_value' must be a negative number or \"-inf\", got -1e+300") !=
        std::string::npos);
}
