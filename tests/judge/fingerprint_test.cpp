// The precision fingerprint names the recipe a kernel really rounds in, and claims nothing else:
// candidates are other implementations (the split_kv variant, which orders and rounds its sums
// differently from the tiled kernel) run in a known recipe on the case's inputs stored again in
// that recipe's formats, so the right answer is known by construction; bugs (every mutant) and a
// correct kernel must not be called a precision finding.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "kernels/mutants.hpp"
#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/judge/fingerprint.hpp"
#include "src/suite/config.hpp"
#include "src/suite/inputs.hpp"

using namespace attn;
using Catch::Matchers::Contains;

namespace {

CaseSpec load_case(const std::string& file, const std::string& name, const std::string& precision) {
  Suite s;
  Diagnostics d;
  LoadOptions opt;
  if (!precision.empty()) opt.precision = precision;  // "" keeps the case's own recipe
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/" + file, opt, &s, &d));
  for (const CaseSpec& c : s.cases)
    if (c.name == name) return c;
  FAIL("no case " << name);
  return {};
}

Recipe recipe(const std::string& text) {
  std::string err;
  const std::optional<Recipe> r = parse_recipe_text(text, &err);
  REQUIRE(r);
  return *r;
}

// Variant `name` in recipe `r` on the case's inputs stored again in r's formats.
std::vector<double> variant_in(const PreparedCase& p, const Recipe& r, const char* name) {
  Inputs in = p.inputs;
  quantize_inputs(r, p.spec.problem.shape, in);
  std::vector<float> out(p.golden.size());
  find_variant(name)->run(p.spec.problem, in, r, p.spec.tiles, out, 2);
  return {out.begin(), out.end()};
}

// The split_kv variant, which orders and rounds its sums differently from the tiled kernel.
std::vector<double> split_kv_in(const PreparedCase& p, const Recipe& r) { return variant_in(p, r, "split_kv"); }

}  // namespace

TEST_CASE("fingerprint: another implementation of a narrower recipe is named exactly", "[fingerprint]") {
  struct Row {
    const char* file;
    const char* name;
  };
  // Cases with enough rows that see many keys for rounding noise to be told from a bug.
  const Row cases[] = {{"phase2.json", "combo_bf16-mixed"},
                       {"phase3.json", "decode_1_token_long_kv_window"},
                       {"phase3.json", "decode_1_token_long_kv"}};
  const char* recipes[] = {"fp32+k=bf16+v=bf16", "fp32+q=bf16",       "fp32+k=fp16+v=fp16", "fp32+probs=bf16",
                           "fp32+probs=fp16",    "fp32+kv=fp16+probs=fp16"};
  for (const Row& row : cases) {
    PreparedCase p = prepare_case(load_case(row.file, row.name, "fp32"), 2);
    for (const char* text : recipes) {
      const Recipe r = recipe(text);
      INFO(row.name << " in " << text);
      const Fingerprint f = precision_fingerprint(p, split_kv_in(p, r), 2);
      REQUIRE(f.match());
      CHECK(f.match()->name == "precision:" + recipe_spec(r));
      CHECK(f.declared == "fp32");
      CHECK(f.kernel_runs <= FingerprintOptions{}.max_kernel_runs);
    }
  }
}

TEST_CASE("fingerprint: the correct kernel in the declared recipe matches no other recipe", "[fingerprint]") {
  for (const char* precision : {"fp32", "bf16-mixed", "fp16-mixed"}) {
    PreparedCase p = prepare_case(load_case("phase2.json", "combo_bf16-mixed", precision), 2);
    INFO(precision);
    const Fingerprint own = precision_fingerprint(p, split_kv_in(p, p.spec.recipe), 2);
    CHECK(own.match() == nullptr);
    CHECK(own.declared_explains);
  }
}

TEST_CASE("fingerprint: no mutant is called a precision finding", "[fingerprint]") {
  // Every mutant (the tiled kernel plus one fault) on cases where it changes the output: a bug is
  // never explained by a recipe, except the bf16 accumulator, which is one (acc_pv=bf16).
  for (const char* name : {"combo_fp32", "combo_bf16-mixed", "combo_exp2_bf16"}) {
    PreparedCase p = prepare_case(load_case("phase2.json", name, ""), 2);
    for (const MutantInfo& m : mutants()) {
      if (!mutant_unsupported(m, p.spec.recipe).empty()) continue;
      std::vector<float> out(p.golden.size());
      tiled_attention(p.spec.problem, p.inputs, {.recipe = p.spec.recipe, .tiles = p.spec.tiles, .threads = 2, .fault = m.fault},
                      out);
      const Fingerprint f = precision_fingerprint(p, std::vector<double>(out.begin(), out.end()), 2);
      INFO(name << " " << m.name << ": " << (f.match() ? f.match()->name : "no match"));
      if (m.name == "acc_bf16" && f.match()) CHECK_THAT(f.match()->name, Contains("acc_pv=bf16"));
      else CHECK(f.match() == nullptr);
    }
  }
}

TEST_CASE("fingerprint: few rows with many keys give no rounding-noise claim, and say why", "[fingerprint]") {
  // phase1 'sinks' has 8 query tokens of 8 keys at most: P rounded to bf16 cannot be told from a bug.
  PreparedCase p = prepare_case(load_case("phase1.json", "sinks", "fp32"), 1);
  const Fingerprint f = precision_fingerprint(p, split_kv_in(p, recipe("fp32+probs=bf16")), 1);
  CHECK(f.match() == nullptr);
  bool said = false;
  for (const PrecisionMatch& m : f.tried)
    if (m.name == "precision:fp32+probs=bf16") said = m.evidence.find("too few to tell rounding noise") != std::string::npos;
  CHECK(said);
}

TEST_CASE("fingerprint: a large case runs on the first and last KV-head group and finds the same", "[fingerprint]") {
  // gpt-oss decode: 8 KV heads, so the slice is groups 0 and 7.
  PreparedCase p = prepare_case(load_case("phase4.json", "gpt_oss_120b_decode_odd_layer", "fp32"), 2);
  REQUIRE(p.spec.problem.shape.kv_heads > 2);
  const std::vector<double> c = split_kv_in(p, recipe("fp32+kv=bf16"));
  const Fingerprint sliced = precision_fingerprint(p, c, 2);
  const Fingerprint whole = precision_fingerprint(p, c, 2, {.max_kv_heads = 64});
  CHECK(whole.scope == "the whole case");
  CHECK_THAT(sliced.scope, Contains(fmt::format("KV heads 0 and {} of {}", p.spec.problem.shape.kv_heads - 1,
                                                p.spec.problem.shape.kv_heads)));
  REQUIRE(sliced.match());
  REQUIRE(whole.match());
  CHECK(sliced.match()->name == whole.match()->name);
}

TEST_CASE("fingerprint: diagnosis ranks the recipe first and its verdict says it is no bug", "[fingerprint][diagnosis]") {
  PreparedCase p = prepare_case(load_case("phase3.json", "decode_1_token_long_kv", "fp32"), 2);
  const std::vector<double> c = split_kv_in(p, recipe("fp32+kv=fp16"));
  nlohmann::json fp;
  const std::vector<Hypothesis> h = diagnose_case(p, c, Layout::bshd, 2, &fp);
  REQUIRE(!h.empty());
  CHECK(h.front().name == "precision:fp32+k=fp16+v=fp16");
  const DiagnosisVerdict v = diagnosis_verdict(h, true);
  CHECK(v.explained_by == "precision:fp32+k=fp16+v=fp16");
  CHECK_THAT(v.text(), Contains("a precision finding, not a bug") && Contains("K and V stored as fp16") &&
                           Contains("the case declares fp32"));
  CHECK(fp["matches"] == "fp32+k=fp16+v=fp16");
  CHECK(fp["declared"] == "fp32");
  // A failure a mutant explains gets no fingerprint: its report stays what it was.
  std::vector<float> out(p.golden.size());
  tiled_attention(p.spec.problem, p.inputs, {.recipe = p.spec.recipe, .tiles = p.spec.tiles, .threads = 2, .fault = Fault::no_sinks},
                  out);
  nlohmann::json none;
  const std::vector<Hypothesis> m = diagnose_case(p, std::vector<double>(out.begin(), out.end()), Layout::bshd, 2, &none);
  CHECK(m.front().name == "no_sinks");
  CHECK(none.is_null());
}

namespace {

// How many points inside the kernel round narrower than fp32 (exp2 counted as one).
int internal_changes_of(const Recipe& r) {
  return (r.scores != DType::f32) + (r.probs != DType::f32) + (r.acc_pv != DType::f32) + (r.acc_rowsum != DType::f32) +
         r.exp2;
}

}  // namespace

// On 8192 keys an fp16 accumulator's noise hides the shift narrower inputs make; a kernel that
// accumulates in ggml's order is told apart by its noise, reproduced error for error only under the
// input formats it really read. Each candidate's own formats are named, and no other's.
TEST_CASE("fingerprint: an fp16 accumulator in ggml's order is named with exactly its input formats", "[fingerprint]") {
  PreparedCase p = prepare_case(load_case("phase3.json", "decode_1_token_long_kv", "fp32"), 2);
  for (const char* text : {"fp32+acc_pv=fp16", "fp32+kv=fp16+acc_pv=fp16", "fp32+k=fp16+acc_pv=fp16",
                           "fp32+inputs=bf16+acc_pv=fp16", "fp32+q=fp16+kv=fp16+acc_pv=fp16"}) {
    const Recipe r = recipe(text);
    INFO(text);
    const Fingerprint f = precision_fingerprint(p, variant_in(p, r, "per_key"), 2);
    REQUIRE(f.match());
    CHECK(f.match()->reproduced);
    CHECK_THAT(f.match()->evidence, Contains("error for error in ggml's order"));
    CHECK(f.per_key_runs > 0);
    // Every recipe diagnosis lists reads Q, K and V as the candidate did (whether the sinks were
    // rounded too changes nothing the data can show: inputs=bf16 is named as Q, K and V in bf16).
    for (const PrecisionMatch* m : f.explaining()) {
      INFO(m->name);
      CHECK((m->recipe.q == r.q && m->recipe.k == r.k && m->recipe.v == r.v && m->recipe.acc_pv == r.acc_pv));
      CHECK(internal_changes_of(m->recipe) == 1);
    }
  }
  // The tiled kernel's own order is no ggml order: its fp16 accumulator is named by its noise, and
  // no recipe is reproduced error for error.
  std::vector<float> out(p.golden.size());
  const Recipe acc = recipe("fp32+acc_pv=fp16");
  tiled_attention(p.spec.problem, p.inputs, {.recipe = acc, .tiles = {64, 256}, .threads = 2}, out);
  const Fingerprint f = precision_fingerprint(p, std::vector<double>(out.begin(), out.end()), 2);
  REQUIRE(f.match());
  CHECK(f.match()->name == "precision:fp32+acc_pv=fp16");
  for (const PrecisionMatch& m : f.tried) CHECK(!m.reproduced);
}
