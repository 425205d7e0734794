// Reading a candidate's output: both file formats (recognised by content), every dtype, the tensor
// choice in .safetensors, bf16 bits in .npy, layouts, and a clear error for each malformed file.
#include "src/io/candidate_file.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <numeric>

#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

const Index4 kDims{1, 3, 2, 4};

std::vector<double> values() {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.25 * double(i) - 2.0;  // exact in every format
  return v;
}

std::vector<double> read_ok(const std::string& path, CandidateReadOptions opt = {}) {
  std::vector<double> out;
  std::string err;
  const bool ok = read_candidate(path, kDims, opt, &out, &err);
  INFO(err);
  REQUIRE(ok);
  return out;
}

std::string read_err(const std::string& path, CandidateReadOptions opt = {}) {
  std::vector<double> out;
  std::string err;
  CHECK_FALSE(read_candidate(path, kDims, opt, &out, &err));
  CHECK_THAT(err, Contains(path + ": error: "));
  return err;
}

}  // namespace

TEST_CASE("candidate file: .npy in f32 and f64, .safetensors in every dtype, any file name", "[candidate_file]") {
  TempDir dir("cand_formats");
  const std::vector<double> v = values();
  std::string err;
  const std::vector<float> f(v.begin(), v.end());
  REQUIRE(write_npy_f32(dir.file("a.npy"), {1, 3, 2, 4}, f, &err));
  CHECK(read_ok(dir.file("a.npy")) == v);
  REQUIRE(write_npy_f64(dir.file("b.npy"), {1, 3, 2, 4}, v, &err));
  CHECK(read_ok(dir.file("b.npy")) == v);
  for (ArrayDType t : {ArrayDType::f64, ArrayDType::f32, ArrayDType::f16, ArrayDType::bf16}) {
    REQUIRE(write_safetensors(dir.file("c.safetensors"), {{.name = "out", .shape = {1, 3, 2, 4}, .dtype = t, .values = v}}, &err));
    CHECK(read_ok(dir.file("c.safetensors")) == v);
  }
  // {out} is called out.npy but a command may write safetensors into it: content decides.
  REQUIRE(write_safetensors(dir.file("out.npy"), {{.name = "o", .shape = {1, 3, 2, 4}, .dtype = ArrayDType::bf16, .values = v}}, &err));
  CHECK(read_ok(dir.file("out.npy")) == v);
}

TEST_CASE("candidate file: the tensor named 'out', or the only one", "[candidate_file]") {
  TempDir dir("cand_tensor");
  const std::vector<double> v = values(), other(24, 7.0);
  std::string err;
  REQUIRE(write_safetensors(dir.file("two.safetensors"),
                            {{.name = "lse", .shape = {1, 3, 2, 4}, .values = other}, {.name = "out", .shape = {1, 3, 2, 4}, .values = v}}, &err));
  CHECK(read_ok(dir.file("two.safetensors")) == v);
  REQUIRE(write_safetensors(dir.file("none.safetensors"),
                            {{.name = "a", .shape = {1, 3, 2, 4}, .values = other}, {.name = "b", .shape = {1, 3, 2, 4}, .values = v}}, &err));
  CHECK_THAT(read_err(dir.file("none.safetensors")), Contains("holds 2 tensors ('a', 'b') and none is named 'out'"));
  REQUIRE(write_safetensors(dir.file("empty.safetensors"), {}, &err));
  CHECK_THAT(read_err(dir.file("empty.safetensors")), Contains("holds no tensor"));
}

TEST_CASE("candidate file: bf16 bits in '<u2' only with --bf16-bits", "[candidate_file]") {
  TempDir dir("cand_bits");
  const std::vector<double> v = values();
  std::string bytes("\x93NUMPY\x01\x00", 8);
  std::string header = "{'descr': '<u2', 'fortran_order': False, 'shape': (1, 3, 2, 4), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  bytes += char(header.size() & 0xFF);
  bytes += char(header.size() >> 8);
  bytes += header;
  for (double x : v) {
    const std::uint16_t b = encode_bf16(x);
    bytes += char(b & 0xFF);
    bytes += char(b >> 8);
  }
  std::ofstream(dir.file("bits.npy"), std::ios::binary) << bytes;
  CHECK(read_ok(dir.file("bits.npy"), {.bf16_bits = true}) == v);
  CHECK_THAT(read_err(dir.file("bits.npy")), Contains("--bf16-bits"));
}

TEST_CASE("candidate file: layouts and wrong shapes", "[candidate_file]") {
  TempDir dir("cand_layout");
  const std::vector<double> v = values();
  std::string err;
  for (const std::string& name : layout_names()) {
    const Layout l = *layout_from_name(name);
    std::vector<std::int64_t> shape;
    const std::vector<double> stored = layout_from_bshd(l, v, kDims, &shape);
    REQUIRE(write_npy_f64(dir.file("l.npy"), shape, stored, &err));
    CHECK(read_ok(dir.file("l.npy"), {.layout = l}) == v);
  }
  REQUIRE(write_npy_f64(dir.file("bhsd.npy"), {1, 2, 3, 4}, v, &err));
  const std::string e = read_err(dir.file("bhsd.npy"));
  CHECK_THAT(e, Contains("accepted shapes") && Contains("pass --layout 'bhsd'"));
}

TEST_CASE("candidate file: missing, empty, a directory, or neither format", "[candidate_file]") {
  TempDir dir("cand_bad");
  CHECK_THAT(read_err(dir.file("missing.npy")), Contains("cannot open the file (No such file or directory)"));
  std::ofstream(dir.file("empty.npy")).flush();
  CHECK_THAT(read_err(dir.file("empty.npy")), Contains("the file is empty"));
  CHECK_THAT(read_err(dir.path.string()), Contains("is a directory"));
  CHECK_THAT(read_err(dir.file("junk.npy", "this is not an array\n")), Contains("neither an .npy file"));
  CHECK_THAT(read_err(dir.file("junk.safetensors", "this is not an array\n")), !Contains("neither"));
  // A truncated .npy is the npy reader's error, not a safetensors one.
  std::string err;
  REQUIRE(write_npy_f32(dir.file("t.npy"), {1, 3, 2, 4}, std::vector<float>(24, 1.0f), &err));
  std::filesystem::resize_file(dir.file("t.npy"), 100);
  CHECK_THAT(read_err(dir.file("t.npy")), !Contains("neither"));
}
