// Dump directories: what dump writes reads back to the same case and the same inputs bit for bit,
// in both formats and every recipe; the safetensors dtypes and scales; an edited dump is refused.
#include "src/io/dumpdir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "src/suite/inputs.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

CaseSpec phase2_case(const std::string& name) {
  Suite s;
  Diagnostics d;
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase2.json", {}, &s, &d));
  for (const CaseSpec& c : s.cases)
    if (c.name == name) return c;
  FAIL("no case " << name);
  return {};
}

nlohmann::json safetensors_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len[i];
  std::string text(n, ' ');
  in.read(text.data(), std::streamsize(n));
  return nlohmann::json::parse(text);
}

}  // namespace

TEST_CASE("dump: inputs and case.json read back exactly, every recipe and both formats", "[dump]") {
  for (const char* name : {"combo_fp32", "combo_bf16-mixed", "combo_fp16-mixed", "combo_fp8-e4m3", "combo_int8"}) {
    for (DumpFormat format : {DumpFormat::npy, DumpFormat::safetensors}) {
      INFO(name << " " << dump_format_name(format));
      TempDir dir("dump_roundtrip");
      const CaseSpec c = phase2_case(name);
      const Inputs in = make_inputs(c, 2);
      std::string err;
      REQUIRE(write_dump({.dir = (dir.path / "d").string(), .format = format, .suite = "phase2", .config = "p2.json"}, c, in,
                         {}, &err));
      Dump d;
      Diagnostics diags;
      REQUIRE(load_dump((dir.path / "d").string(), {}, &d, &diags));
      CHECK(d.suite == "phase2");
      CHECK(d.spec.to_json() == c.to_json());  // the fully resolved case, every key
      Inputs back;
      REQUIRE(read_dump_inputs(d, &back, &err));
      CHECK(back.q == in.q);
      CHECK(back.k == in.k);
      CHECK(back.v == in.v);
      CHECK(back.sinks == in.sinks);
      CHECK(back.q_scale == in.q_scale);
      CHECK(back.k_scale == in.k_scale);
      CHECK(back.v_scale == in.v_scale);
      CHECK(back.sinks_scale == in.sinks_scale);
      CHECK(check_dump_inputs(d, in, &err));
      // The file itself may be given instead of the directory.
      Dump d2;
      REQUIRE(load_dump((dir.path / "d" / "case.json").string(), {}, &d2, &diags));
      CHECK(d2.dir == (dir.path / "d").string());
    }
  }
}

TEST_CASE("dump: case.json is a suite the loader runs, with the dump described beside it", "[dump]") {
  TempDir dir("dump_suite");
  const CaseSpec c = phase2_case("combo_int8");
  std::string err;
  REQUIRE(write_dump({.dir = dir.path.string(), .suite = "phase2"}, c, make_inputs(c), {}, &err));
  Suite s;
  Diagnostics diags;
  REQUIRE(load_suite(dir.file("case.json"), {}, &s, &diags));
  REQUIRE(s.cases.size() == 1);
  std::ifstream in(dir.file("case.json"));
  const auto j = nlohmann::json::parse(in);
  CHECK(j["dump"]["schema"] == "attn-diff.dump.v1");
  CHECK(j["dump"]["layout"] == "bshd");
  CHECK(j["dump"]["input_dtype"] == "int8");
  CHECK(j["dump"]["files"]["q"]["shape"] == std::vector<int>{2, 96, 8, 64});
  CHECK(j["dump"]["input_scales"]["q"].get<float>() == make_inputs(c).q_scale);
  CHECK(j["dump"]["input_scales"]["q"].get<float>() != 1.0f);
}

TEST_CASE("dump: safetensors keeps bf16 and fp16 inputs native, fp8/int8 as F32 with scales", "[dump]") {
  const std::map<std::string, std::string> expect = {
      {"combo_bf16-mixed", "BF16"}, {"combo_fp16-mixed", "F16"}, {"combo_fp32", "F32"}, {"combo_fp8-e4m3", "F32"}, {"combo_int8", "F32"}};
  for (const auto& [name, dtype] : expect) {
    INFO(name);
    TempDir dir("dump_st");
    const CaseSpec c = phase2_case(name);
    const Inputs in = make_inputs(c);
    std::string err;
    REQUIRE(write_dump({.dir = dir.path.string(), .format = DumpFormat::safetensors}, c, in, {}, &err));
    CHECK_FALSE(std::filesystem::exists(dir.path / "q.npy"));
    const auto h = safetensors_header(dir.file("inputs.safetensors"));
    for (const char* t : {"q", "k", "v", "sinks"}) CHECK(h[t]["dtype"] == dtype);
    CHECK(h["__metadata__"]["precision"] == c.recipe.name);
    CHECK(std::stof(h["__metadata__"]["q_scale"].get<std::string>()) == in.q_scale);
    CHECK(std::stof(h["__metadata__"]["k_scale"].get<std::string>()) == in.k_scale);
  }
}

TEST_CASE("dump: outputs are written when given, and an edited dump is refused", "[dump]") {
  TempDir dir("dump_edit");
  const CaseSpec c = phase2_case("combo_bf16-mixed");
  const Inputs in = make_inputs(c);
  const std::vector<double> golden(c.problem.shape.q_elements(), 0.125);
  std::string err;
  REQUIRE(write_dump({.dir = dir.path.string()}, c, in, {.golden = golden, .naive = golden, .tiled = golden}, &err));
  Array a;
  REQUIRE(read_npy(dir.file("golden.npy"), &a, &err));
  CHECK(a.dtype == ArrayDType::f64);
  REQUIRE(read_npy(dir.file("tiled.npy"), &a, &err));
  CHECK(a.dtype == ArrayDType::f32);
  CHECK(a.shape == std::vector<std::int64_t>{2, 96, 8, 64});

  Dump d;
  Diagnostics diags;
  REQUIRE(load_dump(dir.path.string(), {}, &d, &diags));
  std::vector<float> k = in.k;
  k[5] += 1.0f;
  REQUIRE(write_npy_f32(dir.file("k.npy"), {2, 160, 2, 64}, k, &err));
  CHECK_FALSE(check_dump_inputs(d, in, &err));
  CHECK_THAT(err, Contains("the dumped 'k' differs from the inputs case.json generates (element 5"));
  REQUIRE(write_npy_f32(dir.file("k.npy"), {2, 160, 64, 2}, k, &err));
  CHECK_FALSE(check_dump_inputs(d, in, &err));
  CHECK_THAT(err, Contains("'k' has shape [2, 160, 64, 2], the case needs [2, 160, 2, 64]"));
  REQUIRE(write_npy_f32(dir.file("k.npy"), {2, 160, 2, 64}, in.k, &err));
  CHECK(check_dump_inputs(d, in, &err));
  std::filesystem::remove(dir.path / "v.npy");
  CHECK_FALSE(check_dump_inputs(d, in, &err));
  CHECK_THAT(err, Contains("v.npy"));
}

TEST_CASE("dump: load_dump names what is missing", "[dump]") {
  TempDir dir("dump_missing");
  Dump d;
  Diagnostics diags;
  CHECK_FALSE(load_dump((dir.path / "nope").string(), {}, &d, &diags));
  CHECK_THAT(diags.at(0).format(), Contains("no such directory"));
  diags.clear();
  CHECK_FALSE(load_dump(dir.path.string(), {}, &d, &diags));
  CHECK_THAT(diags.at(0).format(), Contains("no case.json"));
  diags.clear();
  dir.file("case.json", R"({"cases": [{"name": "a", "tokens": 2, "heads": 1, "head_dim": 2},
                                     {"name": "b", "tokens": 2, "heads": 1, "head_dim": 2}]})");
  CHECK_FALSE(load_dump(dir.path.string(), {}, &d, &diags));
  CHECK_THAT(diags.at(0).format(), Contains("holds 2 cases; a dump holds exactly one"));
}
