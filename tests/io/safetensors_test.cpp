// Pins src/io/safetensors.hpp: round trips of every dtype, the exact bytes of a small file, and one
// hand-made file for every rule of the format's validation (and the message that names it).
#include "src/io/safetensors.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

namespace attn {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace std::string_literals;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A file with the given JSON header text (length written honestly) and data buffer.
std::string st_file(const std::string& header, const std::string& data) { return le(header.size(), 8) + header + data; }

// A one-tensor header "t".
std::string one(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
}

std::string st_error(const std::string& bytes) {
  std::vector<NamedArray> out;
  std::string err;
  CHECK_FALSE(parse_safetensors(bytes, "bad.safetensors", &out, &err));
  CHECK_THAT(err, StartsWith("bad.safetensors: error: "));
  return err;
}

std::vector<NamedArray> st_ok(const std::string& bytes) {
  std::vector<NamedArray> out;
  std::string err;
  const bool ok = parse_safetensors(bytes, "ok.safetensors", &out, &err);
  INFO(err);
  REQUIRE(ok);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

TEST_CASE("safetensors: every dtype round trips through a file", "[safetensors]") {
  test::TempDir dir("safetensors_" + std::to_string(::getpid()));
  const std::string path = (dir.path / "t.safetensors").string();
  const double nan = std::nan("");
  // Exactly representable in every format, plus values each format must round.
  const std::vector<double> exact = {1.0, -2.5, 0.0, kInf, -kInf, 0.25, 96.0};
  const std::vector<double> f16_in = {1.0 + std::ldexp(1.0, -11), 65520.0, std::ldexp(3.0, -25), 70000.0, nan, 1e-9};
  const std::vector<double> bf16_in = {1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30), 1e39, -0.1, nan};
  const std::vector<double> f32_in = {0.1, 1e39, std::ldexp(1.0, -149)};
  const std::vector<double> f64_in = {0.1, -1e300, std::ldexp(1.0, -1074)};
  std::string err;
  REQUIRE(write_safetensors(path,
                            {{"f16_exact", {7}, ArrayDType::f16, exact},
                             {"bf16_exact", {7, 1}, ArrayDType::bf16, exact},
                             {"f16", {2, 3}, ArrayDType::f16, f16_in},
                             {"bf16", {4}, ArrayDType::bf16, bf16_in},
                             {"f32", {3}, ArrayDType::f32, f32_in},
                             {"f64", {1, 3}, ArrayDType::f64, f64_in},
                             {"scalar", {}, ArrayDType::f32, std::span<const double>(exact.data(), 1)},
                             {"empty", {0, 4}, ArrayDType::f64, {}}},
                            &err));
  std::vector<NamedArray> got;
  REQUIRE(read_safetensors(path, &got, &err));

  // Widest dtype first, given order otherwise; read back in the order of the data.
  std::vector<std::string> names;
  std::map<std::string, Array> by_name;
  for (const NamedArray& t : got) names.push_back(t.name), by_name[t.name] = t.array;
  CHECK(names == std::vector<std::string>{"f64", "empty", "f32", "scalar", "f16_exact", "bf16_exact", "f16", "bf16"});
  auto find = [&](const std::string& name) -> const Array& { return by_name.at(name); };
  CHECK(find("f16_exact").values == exact);
  CHECK(find("f16_exact").dtype == ArrayDType::f16);
  CHECK(find("bf16_exact").values == exact);
  CHECK(find("bf16_exact").shape == std::vector<std::int64_t>{7, 1});
  CHECK(find("bf16_exact").dtype == ArrayDType::bf16);

  const Array& f16 = find("f16");
  CHECK(f16.shape == std::vector<std::int64_t>{2, 3});
  CHECK(f16.values[0] == 1.0);                       // tie to even
  CHECK(f16.values[1] == kInf);                      // past 65504 + half an ulp
  CHECK(f16.values[2] == std::ldexp(1.0, -23));      // subnormal tie to the even code 2
  CHECK(f16.values[3] == kInf);
  CHECK(std::isnan(f16.values[4]));
  CHECK(f16.values[5] == 0.0);

  const Array& bf16 = find("bf16");
  CHECK(bf16.values[0] == 1.0 + std::ldexp(1.0, -7));  // just above a tie: up, rounded once
  CHECK(bf16.values[1] == kInf);
  CHECK(bf16.values[2] == decode_bf16(0xBDCD));
  CHECK(std::isnan(bf16.values[3]));

  CHECK(find("f32").values == std::vector<double>{double(0.1f), kInf, std::ldexp(1.0, -149)});
  CHECK(find("f32").dtype == ArrayDType::f32);
  CHECK(find("f64").values == f64_in);
  CHECK(find("f64").dtype == ArrayDType::f64);
  CHECK(find("scalar").shape.empty());
  CHECK(find("scalar").values == std::vector<double>{1.0});
  CHECK(find("empty").shape == std::vector<std::int64_t>{0, 4});
  CHECK(find("empty").values.empty());

  // The header is padded to 8 bytes and every tensor starts at a multiple of its item size.
  const std::string bytes = slurp(path);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  CHECK(n % 8 == 0);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  for (const auto& [name, entry] : header.items()) {
    const std::uint64_t begin = entry["data_offsets"][0];
    CHECK(begin % (entry["dtype"] == "F64" ? 8 : entry["dtype"] == "F32" ? 4 : 2) == 0);
  }
}

TEST_CASE("safetensors: the exact bytes of a small file", "[safetensors]") {
  test::TempDir dir("safetensors_bytes_" + std::to_string(::getpid()));
  const std::string path = (dir.path / "x.safetensors").string();
  const std::vector<double> v = {1.0, -2.0};
  std::string err;
  REQUIRE(write_safetensors(path, {{"x", {2}, ArrayDType::f16, v}}, &err));
  std::string header = R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  CHECK(slurp(path) == st_file(header, "\x00\x3C\x00\xC0"s));

  // No tensors at all is a valid file too.
  REQUIRE(write_safetensors(path, {}, &err));
  CHECK(slurp(path) == st_file("{}      ", ""));
  std::vector<NamedArray> got = {{"stale", {}}};
  REQUIRE(read_safetensors(path, &got, &err));
  CHECK(got.empty());
}

TEST_CASE("safetensors: reads a hand-made file with metadata", "[safetensors]") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]},"h":{"shape":[2],"dtype":"F16","data_offsets":[0,4]}}   )";
  const std::string data = le(0x7BFF, 2) + le(0x0001, 2) + le(0x3F800000, 4) + le(0xC0400000, 4) + le(0x4049, 2);
  const std::vector<NamedArray> got = st_ok(st_file(header, data));
  REQUIRE(got.size() == 3);
  CHECK(got[0].name == "h");
  CHECK(got[0].array.values == std::vector<double>{65504.0, std::ldexp(1.0, -24)});
  CHECK(got[1].name == "a");
  CHECK(got[1].array.shape == std::vector<std::int64_t>{1, 2});
  CHECK(got[1].array.values == std::vector<double>{1.0, -3.0});
  CHECK(got[2].name == "b");
  CHECK(got[2].array.values == std::vector<double>{3.140625});
}

TEST_CASE("safetensors: malformed files are refused with a message naming the problem", "[safetensors]") {
  const std::string f32 = le(0x3F800000, 4);
  CHECK_THAT(st_error(""), Contains("too short"));
  CHECK_THAT(st_error("\x10\x00\x00"s), Contains("too short"));
  CHECK_THAT(st_error(le(100, 8) + "{}"), Contains("header length 100 runs past the end of the file (10 bytes)"));
  CHECK_THAT(st_error(le(~0ull, 8) + "{}"), Contains("is absurd"));
  CHECK_THAT(st_error(st_file("{\"t\": ", "")), Contains("malformed JSON header"));
  CHECK_THAT(st_error(st_file("not json", "")), Contains("malformed JSON header"));
  CHECK_THAT(st_error(st_file("[1, 2]", "")), Contains("not an object"));
  CHECK_THAT(st_error(st_file(R"({"t": 3})", "")), Contains("tensor 't': entry is not an object"));
  CHECK_THAT(st_error(st_file(R"({"t": {"dtype": "F32", "shape": [1]}})", f32)), Contains("entry has no 'data_offsets'"));
  CHECK_THAT(st_error(st_file(R"({"__metadata__": {"n": 1}})", "")), Contains("'__metadata__' must be an object"));

  CHECK_THAT(st_error(st_file(one("I32", "[1]", "[0,4]"), f32)),
             Contains("tensor 't': unsupported dtype 'I32'; supported: F64, F32, F16, BF16"));
  CHECK_THAT(st_error(st_file(one("F8_E4M3", "[4]", "[0,4]"), f32)), Contains("unsupported dtype 'F8_E4M3'"));
  CHECK_THAT(st_error(st_file(one("F32", "3", "[0,4]"), f32)), Contains("'shape' is not an array"));
  CHECK_THAT(st_error(st_file(one("F32", "[-1]", "[0,4]"), f32)), Contains("shape entry -1 is negative"));
  CHECK_THAT(st_error(st_file(one("F32", "[1.5]", "[0,4]"), f32)), Contains("shape entry 1.5 is not an integer"));
  CHECK_THAT(st_error(st_file(one("F32", "[\"1\"]", "[0,4]"), f32)), Contains("is not an integer"));
  CHECK_THAT(st_error(st_file(one("F32", "[18446744073709551615]", "[0,4]"), f32)), Contains("too large"));
  CHECK_THAT(st_error(st_file(one("F32", "[4294967296,4294967296]", "[0,4]"), f32)),
             Contains("more elements than fit in a 64-bit integer"));

  CHECK_THAT(st_error(st_file(one("F32", "[1]", "[0]"), f32)), Contains("'data_offsets' must be [begin, end]"));
  CHECK_THAT(st_error(st_file(one("F32", "[1]", "[-4,0]"), f32)), Contains("'data_offsets' must be [begin, end]"));
  CHECK_THAT(st_error(st_file(one("F32", "[1]", "[4,0]"), f32)), Contains("data_offsets [4, 0] end before they begin"));
  CHECK_THAT(st_error(st_file(one("F32", "[1]", "[0,8]"), f32)), Contains("run past the data buffer (4 bytes)"));
  CHECK_THAT(st_error(st_file(one("F32", "[2]", "[0,4]"), f32)), Contains("needs 2 elements of 4 bytes"));
  CHECK_THAT(st_error(st_file(one("F16", "[1]", "[0,4]"), f32)), Contains("hold 4 bytes"));
  // A shape promising 2^62 elements must be refused without allocating for them.
  CHECK_THAT(st_error(st_file(one("F64", "[4611686018427387904]", "[0,4]"), f32)), Contains("hold 4 bytes"));

  const std::string two = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})";
  CHECK_THAT(st_error(st_file(two, f32 + f32)), Contains("tensors 'a' and 'b' overlap"));
  const std::string gap = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  CHECK_THAT(st_error(st_file(gap, f32 + f32 + f32)), Contains("bytes [4, 8) of the data buffer belong to no tensor"));
  CHECK_THAT(st_error(st_file(one("F32", "[1]", "[0,4]"), f32 + "xy")), Contains("2 trailing bytes"));
}

TEST_CASE("safetensors: writer and reader refuse bad requests", "[safetensors]") {
  test::TempDir dir("safetensors_bad_" + std::to_string(::getpid()));
  const std::string path = (dir.path / "w.safetensors").string();
  const std::vector<double> v = {1.0, 2.0, 3.0};
  std::string err;
  CHECK_FALSE(write_safetensors(path, {{"t", {2, 2}, ArrayDType::f32, v}}, &err));
  CHECK_THAT(err, Contains("w.safetensors: error: tensor 't': cannot write shape [2, 2] with 3 values"));
  CHECK_FALSE(write_safetensors(path, {{"t", {3}, ArrayDType::f32, v}, {"t", {3}, ArrayDType::f16, v}}, &err));
  CHECK_THAT(err, Contains("two tensors are named 't'"));
  CHECK_FALSE(write_safetensors(path, {{"__metadata__", {3}, ArrayDType::f32, v}}, &err));
  CHECK_THAT(err, Contains("reserved"));
  CHECK_FALSE(write_safetensors(path, {{"\xff", {3}, ArrayDType::f32, v}}, &err));
  CHECK_THAT(err, Contains("not valid UTF-8"));
  CHECK_FALSE(std::filesystem::exists(path));

  std::vector<NamedArray> got;
  CHECK_FALSE(read_safetensors((dir.path / "missing.safetensors").string(), &got, &err));
  CHECK_THAT(err, Contains("missing.safetensors: error: cannot open the file"));
  CHECK_FALSE(read_safetensors(dir.path.string(), &got, &err));
  CHECK_THAT(err, Contains("is a directory"));
}

}  // namespace attn
