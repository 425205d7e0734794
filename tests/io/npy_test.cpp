// Pins src/io/npy.hpp: the f16/bf16 codecs bit for bit, write/read round trips, one hand-made file for
// every way a header can be wrong (and the message that names it), and the float64 reference vectors
// NumPy wrote under tests/data/vectors.
#include "src/io/npy.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/suite/dtype.hpp"
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

// A .npy file with the given version, header text and data bytes, the header length written honestly.
std::string npy_file(const std::string& header, const std::string& data, int major = 1) {
  return "\x93NUMPY" + std::string(1, char(major)) + std::string(1, '\0') + le(header.size(), major == 1 ? 2 : 4) +
         header + data;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

// Parses bytes that must be refused and returns the message, checked to start with the file name.
std::string npy_error(const std::string& bytes, const NpyReadOptions& opt = {}) {
  Array a;
  std::string err;
  CHECK_FALSE(parse_npy(bytes, "bad.npy", &a, &err, opt));
  CHECK_THAT(err, StartsWith("bad.npy: error: "));
  return err;
}

Array npy_ok(const std::string& bytes, const NpyReadOptions& opt = {}) {
  Array a;
  std::string err;
  const bool ok = parse_npy(bytes, "ok.npy", &a, &err, opt);
  INFO(err);
  REQUIRE(ok);
  return a;
}

}  // namespace

TEST_CASE("npy: f16 known bit patterns decode exactly", "[npy]") {
  CHECK(decode_f16(0x3C00) == 1.0);
  CHECK(decode_f16(0x0001) == std::ldexp(1.0, -24));
  CHECK(decode_f16(0x03FF) == std::ldexp(1023.0, -24));  // largest subnormal
  CHECK(decode_f16(0x0400) == std::ldexp(1.0, -14));     // smallest normal
  CHECK(decode_f16(0x7BFF) == 65504.0);
  CHECK(decode_f16(0x7C00) == kInf);
  CHECK(decode_f16(0xFC00) == -kInf);
  CHECK(decode_f16(0xC000) == -2.0);
  CHECK(std::signbit(decode_f16(0x8000)));
  CHECK(std::isnan(decode_f16(0x7E00)));
  CHECK(std::isnan(decode_f16(0x7C01)));
  CHECK(std::isnan(decode_f16(0xFE00)));

  // The same patterns read through a '<f2' file.
  const std::string data = le(0x3C00, 2) + le(0x0001, 2) + le(0x7BFF, 2) + le(0x7C00, 2) + le(0xFC00, 2) + le(0x7E00, 2);
  const Array a = npy_ok(npy_file(dict("<f2", "(2, 3)"), data));
  CHECK(a.dtype == ArrayDType::f16);
  CHECK(a.shape == std::vector<std::int64_t>{2, 3});
  CHECK(a.values[0] == 1.0);
  CHECK(a.values[1] == std::ldexp(1.0, -24));
  CHECK(a.values[2] == 65504.0);
  CHECK(a.values[3] == kInf);
  CHECK(a.values[4] == -kInf);
  CHECK(std::isnan(a.values[5]));
}

TEST_CASE("npy: f16 codec agrees with src/dtype on every code", "[npy]") {
  for (std::uint32_t c = 0; c <= 0xFFFF; ++c) {
    const auto bits = static_cast<std::uint16_t>(c);
    const double v = decode_f16(bits);
    if (std::isnan(v)) {
      CHECK(std::isnan(f16_to_float(bits)));
      CHECK(std::isnan(decode_f16(encode_f16(v))));
      continue;
    }
    CHECK(v == static_cast<double>(f16_to_float(bits)));
    CHECK(encode_f16(v) == bits);
  }
}

TEST_CASE("npy: f16 and bf16 encoders round to nearest even, once", "[npy]") {
  CHECK(encode_f16(1.0 + std::ldexp(1.0, -11)) == 0x3C00);      // tie, 0x3C00 even
  CHECK(encode_f16(1.0 + 3 * std::ldexp(1.0, -11)) == 0x3C02);  // tie, 0x3C02 even
  CHECK(encode_f16(65519.0) == 0x7BFF);
  CHECK(encode_f16(65520.0) == 0x7C00);  // tie between 65504 and 2^16 goes to Inf
  CHECK(encode_f16(-1e300) == 0xFC00);
  CHECK(encode_f16(std::ldexp(1.0, -25)) == 0x0000);      // half the smallest subnormal, tie to 0
  CHECK(encode_f16(std::ldexp(1.0001, -25)) == 0x0001);
  CHECK(encode_f16(3 * std::ldexp(1.0, -25)) == 0x0002);  // tie between 1 and 2 units
  CHECK(encode_f16(std::ldexp(2047.0, -25)) == 0x0400);   // largest subnormal carries into the exponent
  CHECK(encode_f16(-0.0) == 0x8000);
  CHECK((encode_f16(std::nan("")) & 0x7E00) == 0x7E00);

  // Just above a tie: rounding through float first would land on the tie and go to even (down).
  const double above_tie = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -30);
  CHECK(encode_f16(above_tie) == 0x3C01);
  CHECK(f16_bits(static_cast<float>(above_tie)) == 0x3C00);
  CHECK(encode_bf16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)) == 0x3F81);
  CHECK(encode_bf16(1.0 + std::ldexp(1.0, -8)) == 0x3F80);

  // For values already in float, one rounding either way: agree with src/dtype's bf16_bits.
  std::uint32_t s = 12345;
  for (int n = 0; n < 100000; ++n) {
    s = s * 1664525u + 1013904223u;
    const float x = std::bit_cast<float>(s);
    if (std::isnan(x)) continue;
    CHECK(encode_bf16(x) == bf16_bits(x));
    CHECK(decode_bf16(bf16_bits(x)) == static_cast<double>(bf16_to_float(bf16_bits(x))));
  }
}

TEST_CASE("npy: f32 and f64 round trip through a file", "[npy]") {
  test::TempDir dir("npy_" + std::to_string(::getpid()));
  std::string err;

  const std::vector<float> f = {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(), 3.4e38f,
                                std::numeric_limits<float>::infinity(), 1e-3f};
  const std::string f32 = (dir.path / "f.npy").string();
  REQUIRE(write_npy_f32(f32, {2, 3}, f, &err));
  Array a;
  REQUIRE(read_npy(f32, &a, &err));
  CHECK(a.dtype == ArrayDType::f32);
  CHECK(a.shape == std::vector<std::int64_t>{2, 3});
  REQUIRE(a.values.size() == f.size());
  for (std::size_t i = 0; i < f.size(); ++i) CHECK(std::bit_cast<std::uint32_t>(float(a.values[i])) == std::bit_cast<std::uint32_t>(f[i]));

  const std::vector<double> d = {0.1, -1e300, std::ldexp(1.0, -1074), std::nan("")};
  const std::string f64 = (dir.path / "d.npy").string();
  REQUIRE(write_npy_f64(f64, {4}, d, &err));
  REQUIRE(read_npy(f64, &a, &err));
  CHECK(a.dtype == ArrayDType::f64);
  CHECK(a.shape == std::vector<std::int64_t>{4});
  CHECK(a.values[0] == 0.1);
  CHECK(a.values[1] == -1e300);
  CHECK(a.values[2] == std::ldexp(1.0, -1074));
  CHECK(std::isnan(a.values[3]));

  // NumPy's layout: data starts on a 64-byte boundary, header ends in '\n', a 1-d shape is "(4,)".
  std::ifstream in(f64, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::size_t data_begin = bytes.size() - 4 * 8;
  CHECK(data_begin % 64 == 0);
  CHECK(bytes[data_begin - 1] == '\n');
  CHECK_THAT(bytes, Contains("'shape': (4,)"));

  SECTION("scalars and empty arrays") {
    const double one = 7.0;
    REQUIRE(write_npy_f64(f64, {}, std::span<const double>(&one, 1), &err));
    REQUIRE(read_npy(f64, &a, &err));
    CHECK(a.shape.empty());
    CHECK(a.values == std::vector<double>{7.0});
    REQUIRE(write_npy_f32(f32, {2, 0, 3}, {}, &err));
    REQUIRE(read_npy(f32, &a, &err));
    CHECK(a.shape == std::vector<std::int64_t>{2, 0, 3});
    CHECK(a.values.empty());
  }
  SECTION("writer refuses a shape that does not match the data") {
    CHECK_FALSE(write_npy_f32(f32, {4}, f, &err));
    CHECK_THAT(err, Contains("f.npy: error: cannot write shape (4,) with 6 values"));
    CHECK_FALSE(write_npy_f64(f64, {-1}, d, &err));
  }
  SECTION("a missing file is an error naming it") {
    CHECK_FALSE(read_npy((dir.path / "nope.npy").string(), &a, &err));
    CHECK_THAT(err, Contains("nope.npy: error: cannot open the file"));
  }
}

TEST_CASE("npy: bf16 bits in '<u2' or '<i2' with bf16_bits", "[npy]") {
  const std::string data = le(0x3F80, 2) + le(0xC000, 2) + le(0x7F80, 2) + le(0x0001, 2);
  for (const char* descr : {"<u2", "<i2", "|u2"}) {
    const Array a = npy_ok(npy_file(dict(descr, "(4,)"), data), {.bf16_bits = true});
    CHECK(a.dtype == ArrayDType::bf16);
    CHECK(a.values == std::vector<double>{1.0, -2.0, kInf, std::ldexp(1.0, -133)});
  }
  CHECK_THAT(npy_error(npy_file(dict("<u2", "(4,)"), data)), Contains("'<u2'") && Contains("--bf16-bits"));
  CHECK_THAT(npy_error(npy_file(dict(">u2", "(4,)"), data), {.bf16_bits = true}), Contains("big-endian"));
}

TEST_CASE("npy: format versions 1.0, 2.0 and 3.0", "[npy]") {
  const std::string data = le(std::bit_cast<std::uint32_t>(2.5f), 4);
  for (int major : {1, 2, 3}) {
    const Array a = npy_ok(npy_file(dict("<f4", "(1,)"), data, major));
    CHECK(a.values == std::vector<double>{2.5});
  }
  // Other spellings NumPy or Python 2 produced: double quotes, '=' and '|', 'L' suffixes, no
  // trailing comma, a different key order, a list for the shape.
  CHECK(npy_ok(npy_file("{\"descr\": \"=f4\", \"shape\": (1L,), \"fortran_order\": False}", data)).values.size() == 1);
  CHECK(npy_ok(npy_file("{'shape': [1], 'fortran_order': False, 'descr': '|f4'}", data)).values.size() == 1);
  CHECK(npy_ok(npy_file(dict("<f8", "()"), le(0, 8))).shape.empty());
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(1,)"), data, 4)), Contains("unsupported .npy format version 4.0"));
}

TEST_CASE("npy: malformed files are refused with a message naming the problem", "[npy]") {
  const std::string one_f4 = le(0, 4);
  CHECK_THAT(npy_error(""), Contains("bad magic"));
  CHECK_THAT(npy_error("PK\x03\x04 not numpy at all"), Contains("bad magic"));
  CHECK_THAT(npy_error("\x93NUMPY\x01"), Contains("truncated header"));
  CHECK_THAT(npy_error("\x93NUMPY\x01\x00\x10"s), Contains("truncated header"));
  CHECK_THAT(npy_error("\x93NUMPY\x02\x00\x10\x00\x00"s), Contains("truncated header"));

  // Header length past the file, including one that would wrap around if added carelessly.
  CHECK_THAT(npy_error("\x93NUMPY\x01\x00"s + le(500, 2) + "{}"), Contains("header length 500 (from byte 10) runs past the end of the file (12 bytes)"));
  CHECK_THAT(npy_error("\x93NUMPY\x02\x00"s + le(0xFFFFFFFF, 4) + "{}"), Contains("runs past the end"));

  // Malformed dicts.
  for (const std::string& h : std::vector<std::string>{"", "descr: '<f4'", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
                              "{'descr': '<f4' 'fortran_order': False}", "{'descr: '<f4'}", "{3: 4}",
                              "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra",
                              "{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(100, '(') + "}"})
    CHECK_THAT(npy_error(npy_file(h, one_f4)), Contains("malformed header dict"));
  CHECK_THAT(npy_error(npy_file("{'descr': '<f4', 'shape': (1,)}", one_f4)), Contains("no 'fortran_order' key"));
  CHECK_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", one_f4)),
             Contains("unexpected key 'extra'"));
  CHECK_THAT(npy_error(npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", one_f4)),
             Contains("'descr' appears twice"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(1,)", "Maybe"), one_f4)), Contains("'fortran_order' is not True or False"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "1"), one_f4)), Contains("'shape' is not a tuple"));

  CHECK_THAT(npy_error(npy_file(dict("<f4", "(2, 2)", "True"), one_f4 + one_f4 + one_f4 + one_f4)),
             Contains("fortran_order True"));
  CHECK(npy_error(npy_file(dict(">f4", "(1,)"), one_f4)) ==
        "bad.npy: error: big-endian data ('>f4') is not supported; save with dtype '<f4'");
  CHECK_THAT(npy_error(npy_file(dict("<i4", "(1,)"), one_f4)),
             Contains("unsupported dtype '<i4'") && Contains("'<f2', '<f4', '<f8'") && Contains("--bf16-bits"));
  CHECK_THAT(npy_error(npy_file(dict("<c8", "(1,)"), one_f4)), Contains("unsupported dtype '<c8'"));
  CHECK_THAT(npy_error(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", one_f4)),
             Contains("structured dtypes are not supported"));

  CHECK_THAT(npy_error(npy_file(dict("<f4", "(-1,)"), one_f4)), Contains("shape entry -1 is negative"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(2.5,)"), one_f4)), Contains("shape entry '2.5' is not an integer"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "('1',)"), one_f4)), Contains("shape entry '1' is not an integer"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(None,)"), one_f4)), Contains("shape entry 'None' is not an integer"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(99999999999999999999,)"), one_f4)), Contains("does not fit"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(4294967296, 4294967296)"), one_f4)),
             Contains("more elements than fit in a 64-bit integer"));

  // A header that promises more data than the file holds must be refused before anything is
  // allocated for it: 2^62 f8 elements would be 32 EiB.
  CHECK_THAT(npy_error(npy_file(dict("<f8", "(4611686018427387904,)"), le(0, 8))), Contains("truncated data"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(2, 3)"), one_f4)), Contains("truncated data"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(1,)"), one_f4 + "xy")), Contains("2 trailing bytes"));
  CHECK_THAT(npy_error(npy_file(dict("<f4", "(0,)"), one_f4)), Contains("4 trailing bytes"));
}

TEST_CASE("npy: reads the float64 reference vectors NumPy wrote", "[npy]") {
  const std::filesystem::path root = std::filesystem::path(ATTN_DIFF_SOURCE_DIR) / "tests/data/vectors";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    INFO(entry.path().string());
    std::ifstream in(entry.path() / "case.json");
    const nlohmann::json c = nlohmann::json::parse(in);
    const std::int64_t B = c["batch"], Sq = c["tokens"], Sk = c["kv_tokens"], H = c["heads"], Hkv = c["kv_heads"],
                       D = c["head_dim"];
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> files = {
        {"q.npy", {B, Sq, H, D}}, {"k.npy", {B, Sk, Hkv, D}}, {"v.npy", {B, Sk, Hkv, D}}, {"out.npy", {B, Sq, H, D}}};
    if (c["sinks"].get<bool>()) files.push_back({"sinks.npy", {H}});
    for (const auto& [name, shape] : files) {
      Array a;
      std::string err;
      const bool ok = read_npy((entry.path() / name).string(), &a, &err);
      INFO(name << ": " << err);
      REQUIRE(ok);
      CHECK(a.dtype == ArrayDType::f64);
      CHECK(a.shape == shape);
      CHECK(static_cast<std::int64_t>(a.values.size()) == *element_count(shape));
      bool finite = true, nonzero = false;
      for (double v : a.values) finite = finite && std::isfinite(v), nonzero = nonzero || v != 0;
      CHECK(finite);
      CHECK(nonzero);
    }
    ++cases;
  }
  CHECK(cases >= 6);
}

}  // namespace attn
