// Pins every rounding of src/suite/dtype.hpp bit for bit: hand-computed tables from the format definitions,
// exhaustive round trips over every code, every tie between adjacent codes, and random floats checked
// against a brute-force nearest-code search that shares no code with the encoders.
#include "src/suite/dtype.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace attn {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }
float p2(int e) { return std::ldexp(1.0f, e); }

// Fixed-seed xorshift64 so the samples are the same on every standard library.
struct XorShift {
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// A float with random sign and mantissa and a float exponent uniform in [lo, hi].
float random_float(XorShift& rng, int lo, int hi) {
  const std::uint64_t r = rng.next();
  const std::uint32_t e = static_cast<std::uint32_t>(lo + static_cast<int>((r >> 32) % (hi - lo + 1)) + 127);
  return from_bits(static_cast<std::uint32_t>(r >> 63) << 31 | e << 23 | static_cast<std::uint32_t>(r & 0x7FFFFFu));
}

// The finite non-negative code nearest to |x| among codes [0, last] (decoded values ascending), ties to
// the even code, by looking at every one of them.
template <class Decode>
std::uint32_t brute_nearest(float x, std::uint32_t last, Decode decode) {
  const double a = std::fabs(static_cast<double>(x));
  std::uint32_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (std::uint32_t c = 0; c <= last; ++c) {
    const double d = std::fabs(static_cast<double>(decode(c)) - a);
    if (d < best_d || (d == best_d && (c & 1u) == 0)) best = c, best_d = d;
  }
  return best;
}

}  // namespace

TEST_CASE("dtype: bf16 known bit patterns") {
  CHECK(bf16_bits(1.0f) == 0x3F80);
  CHECK(bf16_bits(from_bits(0x3F808000)) == 0x3F80);  // tie, 0x3F80 is even
  CHECK(bf16_bits(from_bits(0x3F818000)) == 0x3F82);  // tie, 0x3F81 is odd
  CHECK(bf16_bits(from_bits(0x3F808001)) == 0x3F81);  // just above the tie
  CHECK(bf16_bits(from_bits(0x00000001)) == 0x0000);  // smallest float subnormal
  CHECK(bf16_bits(from_bits(0x00018000)) == 0x0002);  // subnormal tie, odd -> up
  CHECK(bf16_bits(std::numeric_limits<float>::max()) == 0x7F80);
  CHECK(bf16_bits(-std::numeric_limits<float>::max()) == 0xFF80);
  CHECK(bf16_bits(kInf) == 0x7F80);
  CHECK(bf16_bits(-0.0f) == 0x8000);
  CHECK(bf16_bits(kNaN) == 0x7FC0);
  CHECK(bf16_bits(from_bits(0x7F800001)) == 0x7FC0);  // signalling NaN: payload below bit 16, quiet forced
  CHECK(bf16_bits(from_bits(0xFF800001)) == 0xFFC0);
  CHECK(std::signbit(bf16_to_float(0x8000)));
}

TEST_CASE("dtype: f16 known bit patterns") {
  CHECK(f16_bits(1.0f) == 0x3C00);
  CHECK(f16_bits(-2.0f) == 0xC000);
  CHECK(f16_bits(0.1f) == 0x2E66);
  CHECK(f16_bits(65504.0f) == 0x7BFF);
  CHECK(f16_bits(65519.0f) == 0x7BFF);
  CHECK(f16_bits(std::nextafter(65520.0f, 0.0f)) == 0x7BFF);
  CHECK(f16_bits(65520.0f) == 0x7C00);  // tie between 65504 (odd) and 2^16 (even) -> Inf
  CHECK(f16_bits(-65520.0f) == 0xFC00);
  CHECK(f16_bits(1e10f) == 0x7C00);
  CHECK(f16_bits(std::numeric_limits<float>::max()) == 0x7C00);
  CHECK(f16_bits(p2(-14)) == 0x0400);        // smallest normal
  CHECK(f16_bits(p2(-24)) == 0x0001);        // smallest subnormal
  CHECK(f16_bits(p2(-25)) == 0x0000);        // tie between 0 and 2^-24 -> even 0
  CHECK(f16_bits(-p2(-25)) == 0x8000);
  CHECK(f16_bits(std::nextafter(p2(-25), 1.0f)) == 0x0001);
  CHECK(f16_bits(3 * p2(-26)) == 0x0001);
  CHECK(f16_bits(1.5f * p2(-24)) == 0x0002);  // tie 1|2 -> 2
  CHECK(f16_bits(2.5f * p2(-24)) == 0x0002);  // tie 2|3 -> 2
  CHECK(f16_bits(1023 * p2(-24)) == 0x03FF);  // largest subnormal
  CHECK(f16_bits(1023.5f * p2(-24)) == 0x0400);  // tie rounds up into the normals
  CHECK(f16_bits(1e-8f) == 0x0000);
  CHECK(f16_bits(from_bits(0x00000001)) == 0x0000);
  CHECK(f16_bits(1 + p2(-11)) == 0x3C00);      // tie 0x3C00|0x3C01 -> 0x3C00
  CHECK(f16_bits(1 + 3 * p2(-11)) == 0x3C02);  // tie 0x3C01|0x3C02 -> 0x3C02
  CHECK(f16_bits(2047 * p2(-11)) == 0x3BFF);   // 1 - 2^-11 is exact (ulp below 1 is 2^-11)
  CHECK(f16_bits(4095 * p2(-12)) == 0x3C00);   // tie 0x3BFF|0x3C00: carries into the exponent
  CHECK(f16_bits(0.0f) == 0x0000);
  CHECK(f16_bits(-0.0f) == 0x8000);
  CHECK(f16_bits(kInf) == 0x7C00);
  CHECK(f16_bits(-kInf) == 0xFC00);
  CHECK(f16_bits(kNaN) == 0x7E00);
  CHECK(f16_bits(-kNaN) == 0xFE00);
  CHECK(f16_bits(from_bits(0x7F800001)) == 0x7E00);  // signalling NaN with a low payload stays NaN
  CHECK(f16_bits(from_bits(0x7FA00000)) == 0x7F00);  // high payload bits kept, quiet forced

  CHECK(f16_to_float(0x0001) == p2(-24));
  CHECK(f16_to_float(0x03FF) == 1023 * p2(-24));
  CHECK(f16_to_float(0x7BFF) == 65504.0f);
  CHECK(f16_to_float(0xFC00) == -kInf);
  CHECK(std::signbit(f16_to_float(0x8000)));
  CHECK(std::isnan(f16_to_float(0x7C01)));
}

TEST_CASE("dtype: e4m3 known bit patterns") {
  CHECK(e4m3_bits(1.0f) == 0x38);
  CHECK(e4m3_bits(-1.0f) == 0xB8);
  CHECK(e4m3_bits(0.1f) == 0x1D);              // 1.6 * 2^-4 -> 1.625 * 2^-4
  CHECK(e4m3_bits(240.0f) == 0x77);
  CHECK(e4m3_bits(448.0f) == 0x7E);
  CHECK(e4m3_bits(424.0f) == 0x7D);            // nearer 416
  CHECK(e4m3_bits(432.0f) == 0x7E);            // tie 416 (odd) | 448 (even)
  CHECK(e4m3_bits(464.0f) == 0x7E);            // would round to the NaN code: saturates
  CHECK(e4m3_bits(500.0f) == 0x7E);
  CHECK(e4m3_bits(1e6f) == 0x7E);
  CHECK(e4m3_bits(-1e6f) == 0xFE);
  CHECK(e4m3_bits(std::numeric_limits<float>::max()) == 0x7E);
  CHECK(e4m3_bits(kInf) == 0x7E);
  CHECK(e4m3_bits(-kInf) == 0xFE);
  CHECK(e4m3_bits(kNaN) == 0x7F);
  CHECK(e4m3_bits(-kNaN) == 0xFF);
  CHECK(e4m3_bits(p2(-6)) == 0x08);            // smallest normal
  CHECK(e4m3_bits(p2(-9)) == 0x01);            // smallest subnormal
  CHECK(e4m3_bits(p2(-10)) == 0x00);           // tie 0 | 2^-9 -> 0
  CHECK(e4m3_bits(-p2(-10)) == 0x80);
  CHECK(e4m3_bits(std::nextafter(p2(-10), 1.0f)) == 0x01);
  CHECK(e4m3_bits(3 * p2(-11)) == 0x01);
  CHECK(e4m3_bits(0.5f * (p2(-9) + p2(-8))) == 0x02);  // tie 1 | 2 -> 2
  CHECK(e4m3_bits(2.5f * p2(-9)) == 0x02);             // tie 2 | 3 -> 2
  CHECK(e4m3_bits(7 * p2(-9)) == 0x07);                // largest subnormal
  CHECK(e4m3_bits(7.5f * p2(-9)) == 0x08);             // tie rounds up into the normals
  CHECK(e4m3_bits(1 + p2(-4)) == 0x38);                // tie 0x38 | 0x39
  CHECK(e4m3_bits(1 + 3 * p2(-4)) == 0x3A);            // tie 0x39 | 0x3A
  CHECK(e4m3_bits(1e-9f) == 0x00);
  CHECK(e4m3_bits(0.0f) == 0x00);
  CHECK(e4m3_bits(-0.0f) == 0x80);

  CHECK(e4m3_to_float(0x7E) == 448.0f);
  CHECK(e4m3_to_float(0xFE) == -448.0f);
  CHECK(e4m3_to_float(0x01) == p2(-9));
  CHECK(e4m3_to_float(0x08) == p2(-6));
  CHECK(e4m3_to_float(0x78) == 256.0f);  // exponent 15 is an ordinary binade in E4M3FN
  CHECK(std::signbit(e4m3_to_float(0x80)));
  CHECK(std::isnan(e4m3_to_float(0x7F)));
  CHECK(std::isnan(e4m3_to_float(0xFF)));
}

TEST_CASE("dtype: every code survives decode then encode") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    INFO("e4m3 code " << c);
    CHECK(e4m3_bits(e4m3_to_float(static_cast<std::uint8_t>(c))) == c);  // the NaN codes too
  }
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const auto code = static_cast<std::uint16_t>(c);
    const float f = f16_to_float(code), b = bf16_to_float(code);
    // NaN payloads survive; only the quiet bit is forced on.
    const std::uint32_t f16_want = std::isnan(f) ? (c | 0x0200u) : c;
    const std::uint32_t bf16_want = std::isnan(b) ? (c | 0x0040u) : c;
    if (f16_bits(f) != f16_want || bf16_bits(b) != bf16_want) {
      INFO("16-bit code " << c);
      CHECK(f16_bits(f) == f16_want);
      CHECK(bf16_bits(b) == bf16_want);
    }
  }
}

TEST_CASE("dtype: every tie between adjacent codes goes to the even code") {
  auto check_pairs = [](std::uint32_t last, auto decode, auto encode, std::uint32_t sign_bit) {
    for (std::uint32_t k = 0; k < last; ++k) {
      const float lo = decode(k), hi = decode(k + 1);
      const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);  // exact: few bits
      const std::uint32_t even = (k & 1u) ? k + 1 : k;
      INFO("codes " << k << " | " << k + 1);
      CHECK(encode(mid) == even);
      CHECK(encode(-mid) == (even | sign_bit));
      CHECK(encode(std::nextafter(mid, 0.0f)) == k);
      CHECK(encode(std::nextafter(mid, kInf)) == k + 1);
    }
  };
  check_pairs(0x7E, [](std::uint32_t c) { return e4m3_to_float(static_cast<std::uint8_t>(c)); },
              [](float x) -> std::uint32_t { return e4m3_bits(x); }, 0x80);
  check_pairs(0x7BFF, [](std::uint32_t c) { return f16_to_float(static_cast<std::uint16_t>(c)); },
              [](float x) -> std::uint32_t { return f16_bits(x); }, 0x8000);
}

TEST_CASE("dtype: random floats round to the nearest code found by brute force") {
  XorShift rng;
  auto e4m3_dec = [](std::uint32_t c) { return e4m3_to_float(static_cast<std::uint8_t>(c)); };
  auto f16_dec = [](std::uint32_t c) { return f16_to_float(static_cast<std::uint16_t>(c)); };
  for (int i = 0; i < 20000; ++i) {
    const float x = random_float(rng, -14, 10);  // from below half the smallest subnormal to past 448
    // Brute force over finite codes only: saturation at 448 falls out of "nearest finite".
    const std::uint32_t want = brute_nearest(x, 0x7E, e4m3_dec) | (std::signbit(x) ? 0x80u : 0u);
    INFO("x = " << x << " bits " << std::bit_cast<std::uint32_t>(x));
    REQUIRE(e4m3_bits(x) == want);
    REQUIRE(std::bit_cast<std::uint32_t>(round_e4m3(x)) == std::bit_cast<std::uint32_t>(e4m3_dec(want)));
  }
  for (int i = 0; i < 2000; ++i) {
    const float x = random_float(rng, -27, 17);  // below f16 subnormals to past 65504
    std::uint32_t want = std::fabs(x) >= 65520.0f ? 0x7C00u : brute_nearest(x, 0x7BFF, f16_dec);
    want |= std::signbit(x) ? 0x8000u : 0u;
    INFO("x = " << x << " bits " << std::bit_cast<std::uint32_t>(x));
    REQUIRE(f16_bits(x) == want);
    REQUIRE(std::bit_cast<std::uint32_t>(round_f16(x)) == std::bit_cast<std::uint32_t>(f16_dec(want)));
  }
}

TEST_CASE("dtype: int8 per-tensor scale and quantisation") {
  const std::vector<float> t = {1.0f, -254.0f, 3.0f};
  CHECK(int8_scale(t) == 2.0f);
  CHECK(int8_scale(std::vector<float>{0.0f, -0.0f}) == 1.0f);
  CHECK(int8_scale({}) == 1.0f);
  CHECK(int8_scale(std::vector<float>{kNaN, kInf, 0.0f}) == 1.0f);
  CHECK(int8_scale(std::vector<float>{-kInf, -2.54f, kNaN}) == 2.54f / 127.0f);  // finite values only
  CHECK(int8_scale(std::vector<float>{from_bits(1)}) == 1.0f);  // max/127 underflows to 0

  const float s = 0.5f;
  CHECK(quantize_int8(1.25f, s) == 2);   // 2.5 -> 2
  CHECK(quantize_int8(1.75f, s) == 4);   // 3.5 -> 4
  CHECK(quantize_int8(-1.25f, s) == -2);
  CHECK(quantize_int8(-1.75f, s) == -4);
  CHECK(quantize_int8(0.25f, s) == 0);   // 0.5 -> 0
  CHECK(quantize_int8(0.75f, s) == 2);   // 1.5 -> 2
  CHECK(quantize_int8(0.8f, s) == 2);
  CHECK(quantize_int8(63.5f, s) == 127);
  CHECK(quantize_int8(63.75f, s) == 127);  // 127.5 clamps before it could round to 128
  CHECK(quantize_int8(1000.0f, s) == 127);
  CHECK(quantize_int8(-1000.0f, s) == -127);  // symmetric: never -128
  CHECK(quantize_int8(-kInf, s) == -127);
  CHECK(quantize_int8(kNaN, s) == 0);
  CHECK(dequantize_int8(-127, s) == -63.5f);

  std::vector<float> v = {1.0f, -254.0f, 3.0f, 5.0f, 7.0f, kNaN};
  float scale = 0.0f;
  quantize_all(DType::int8, v, &scale);
  CHECK(scale == 2.0f);
  CHECK(v == std::vector<float>{0.0f, -254.0f, 4.0f, 4.0f, 8.0f, 0.0f});  // 0.5, 1.5, 2.5, 3.5 to even

  std::vector<float> zeros(4, 0.0f);
  quantize_all(DType::int8, zeros, &scale);
  CHECK(scale == 1.0f);
  CHECK(zeros == std::vector<float>(4, 0.0f));
}

TEST_CASE("dtype: e4m3 per-tensor scale and tensor rounding") {
  CHECK(e4m3_scale(std::vector<float>{896.0f, -1.0f}) == 2.0f);
  CHECK(e4m3_scale(std::vector<float>(3, 0.0f)) == 1.0f);

  std::vector<float> v = {896.0f, -1.0f, 3.0f, 2.25f, 2.125f, -kInf};
  float scale = 0.0f;
  quantize_all(DType::e4m3, v, &scale);
  CHECK(scale == 2.0f);
  CHECK(v == std::vector<float>{896.0f, -1.0f, 3.0f, 2.25f, 2.0f, -896.0f});  // 1.0625 ties to 1

  std::vector<float> b = {1.0f + p2(-9), 65520.0f};
  quantize_all(DType::bf16, b, &scale);
  CHECK(scale == 1.0f);
  CHECK(b == std::vector<float>{1.0f, 65536.0f});
  std::vector<float> h = {1.0f + p2(-12), 65520.0f};
  quantize_all(DType::f16, h, nullptr);
  CHECK(h == std::vector<float>{1.0f, kInf});
}

TEST_CASE("dtype: round_to and round_all") {
  CHECK(round_to(DType::f32, 0.1f) == 0.1f);
  CHECK(round_to(DType::bf16, 0.1f) == round_bf16(0.1f));
  CHECK(round_to(DType::f16, 0.1f) == f16_to_float(0x2E66));
  CHECK(round_to(DType::e4m3, 0.3f) == 0.3125f);  // unscaled: 1.2 * 2^-2 -> 1.25 * 2^-2
  CHECK(round_to(DType::e4m3, 1000.0f) == 448.0f);
  CHECK_THROWS_AS(round_to(DType::int8, 1.0f), std::logic_error);

  std::vector<float> v = {1000.0f, 0.3f, -p2(-10)};
  round_all(DType::e4m3, v);
  CHECK(v == std::vector<float>{448.0f, 0.3125f, -0.0f});
  std::vector<float> empty;
  CHECK_THROWS_AS(round_all(DType::int8, empty), std::logic_error);
}


// OCP E5M2 (PyTorch float8_e5m2) from its definition, sharing no code with dtype.cpp: bias 15, 2 mantissa
// bits, subnormals m * 2^-16, exponent field 31 is Inf (m = 0) or NaN (m != 0).
double e5m2_by_definition(std::uint32_t code) {
  const double sign = (code & 0x80u) ? -1.0 : 1.0;
  const int e = static_cast<int>((code >> 2) & 0x1Fu), m = static_cast<int>(code & 0x3u);
  if (e == 31) return m == 0 ? sign * std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  if (e == 0) return sign * m * std::pow(2.0, -16);
  return sign * std::pow(2.0, e - 15) * (1.0 + m / 4.0);
}

TEST_CASE("dtype: e5m2 decodes all 256 codes to the OCP E5M2 values") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    INFO("e5m2 code " << c);
    const float got = e5m2_to_float(static_cast<std::uint8_t>(c));
    const double want = e5m2_by_definition(c);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
      CHECK(std::signbit(got) == ((c & 0x80u) != 0));
    } else {
      CHECK(static_cast<double>(got) == want);
      CHECK(std::signbit(got) == ((c & 0x80u) != 0));  // -0 for 0x80
    }
  }
  CHECK(e5m2_to_float(0x7B) == 57344.0f);
  CHECK(e5m2_to_float(0x01) == p2(-16));
  CHECK(e5m2_to_float(0x03) == 3 * p2(-16));
  CHECK(e5m2_to_float(0x04) == p2(-14));  // smallest normal
  CHECK(e5m2_to_float(0x3C) == 1.0f);
  CHECK(e5m2_to_float(0x7C) == kInf);
  CHECK(e5m2_to_float(0xFC) == -kInf);
  // The finite codes ascend, so nearest-code searches over [0, 0x7B] are valid.
  for (std::uint32_t c = 0; c < 0x7B; ++c) CHECK(e5m2_to_float(static_cast<std::uint8_t>(c)) < e5m2_to_float(static_cast<std::uint8_t>(c + 1)));
}

TEST_CASE("dtype: e5m2 known bit patterns, saturation and NaN") {
  CHECK(e5m2_bits(1.0f) == 0x3C);
  CHECK(e5m2_bits(-2.0f) == 0xC0);
  CHECK(e5m2_bits(1.25f) == 0x3D);
  CHECK(e5m2_bits(1 + p2(-3)) == 0x3C);            // tie 0x3C | 0x3D -> even 0x3C
  CHECK(e5m2_bits(1 + 3 * p2(-3)) == 0x3E);        // tie 0x3D | 0x3E -> even 0x3E
  CHECK(e5m2_bits(std::nextafter(1 + p2(-3), 2.0f)) == 0x3D);
  CHECK(e5m2_bits(0.1f) == 0x2E);                  // 1.6 * 2^-4 -> 1.5 * 2^-4
  CHECK(e5m2_bits(57344.0f) == 0x7B);
  CHECK(e5m2_bits(49152.0f) == 0x7A);
  CHECK(e5m2_bits(53248.0f) == 0x7A);              // tie 49152 (0x7A, even) | 57344
  CHECK(e5m2_bits(61440.0f) == 0x7B);              // where a plain cast would round to Inf: saturates
  CHECK(e5m2_bits(65536.0f) == 0x7B);
  CHECK(e5m2_bits(1e10f) == 0x7B);
  CHECK(e5m2_bits(-1e10f) == 0xFB);
  CHECK(e5m2_bits(std::numeric_limits<float>::max()) == 0x7B);
  CHECK(e5m2_bits(kInf) == 0x7B);
  CHECK(e5m2_bits(-kInf) == 0xFB);
  CHECK(e5m2_bits(kNaN) == 0x7F);
  CHECK(e5m2_bits(-kNaN) == 0xFF);
  CHECK(e5m2_bits(from_bits(0x7F800001)) == 0x7F);  // signalling NaN stays NaN
  CHECK(e5m2_bits(p2(-14)) == 0x04);               // smallest normal
  CHECK(e5m2_bits(p2(-16)) == 0x01);               // smallest subnormal
  CHECK(e5m2_bits(p2(-17)) == 0x00);               // tie 0 | 2^-16 -> 0
  CHECK(e5m2_bits(-p2(-17)) == 0x80);
  CHECK(e5m2_bits(std::nextafter(p2(-17), 1.0f)) == 0x01);
  CHECK(e5m2_bits(1.5f * p2(-16)) == 0x02);        // tie 1 | 2 -> 2
  CHECK(e5m2_bits(2.5f * p2(-16)) == 0x02);        // tie 2 | 3 -> 2
  CHECK(e5m2_bits(3.5f * p2(-16)) == 0x04);        // tie rounds up into the normals
  CHECK(e5m2_bits(from_bits(0x00000001)) == 0x00);
  CHECK(e5m2_bits(0.0f) == 0x00);
  CHECK(e5m2_bits(-0.0f) == 0x80);
  CHECK(round_e5m2(1000.0f) == 1024.0f);
  CHECK(round_to(DType::e5m2, 0.3f) == 0.3125f);   // 1.2 * 2^-2 -> 1.25 * 2^-2
  CHECK(round_to(DType::e5m2, 1e6f) == 57344.0f);
  CHECK(std::isnan(round_to(DType::e5m2, kNaN)));
  CHECK(unit_roundoff(DType::e5m2) == 0.125);
  CHECK(dtype_name(DType::e5m2) == "e5m2");
  CHECK(dtype_from_name("e5m2") == DType::e5m2);
}

TEST_CASE("dtype: e5m2 codes survive decode then encode, and every tie goes to the even code") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    INFO("e5m2 code " << c);
    const std::uint32_t e = (c >> 2) & 0x1Fu, m = c & 0x3u, sign = c & 0x80u;
    // Inf saturates to the largest finite code; NaN codes become the canonical NaN of their sign.
    const std::uint32_t want = e != 31 ? c : m == 0 ? (sign | 0x7Bu) : (sign | 0x7Fu);
    CHECK(e5m2_bits(e5m2_to_float(static_cast<std::uint8_t>(c))) == want);
  }
  for (std::uint32_t k = 0; k < 0x7B; ++k) {
    const double lo = e5m2_by_definition(k), hi = e5m2_by_definition(k + 1);
    const float mid = static_cast<float>((lo + hi) / 2);  // exact: a few bits
    REQUIRE(static_cast<double>(mid) == (lo + hi) / 2);
    const std::uint32_t even = (k & 1u) ? k + 1 : k;
    INFO("codes " << k << " | " << k + 1);
    CHECK(e5m2_bits(mid) == even);
    CHECK(e5m2_bits(-mid) == (even | 0x80u));
    CHECK(e5m2_bits(std::nextafter(mid, 0.0f)) == k);
    CHECK(e5m2_bits(std::nextafter(mid, kInf)) == k + 1);
  }
}

TEST_CASE("dtype: e5m2 random floats round to the nearest code found by brute force") {
  XorShift rng;
  auto dec = [](std::uint32_t c) { return static_cast<float>(e5m2_by_definition(c)); };
  for (int i = 0; i < 20000; ++i) {
    const float x = random_float(rng, -19, 17);  // below half the smallest subnormal to past 57344
    // Nearest finite code: saturation at 57344 falls out of the search.
    const std::uint32_t want = brute_nearest(x, 0x7B, dec) | (std::signbit(x) ? 0x80u : 0u);
    INFO("x = " << x << " bits " << std::bit_cast<std::uint32_t>(x));
    REQUIRE(e5m2_bits(x) == want);
    REQUIRE(std::bit_cast<std::uint32_t>(round_e5m2(x)) == std::bit_cast<std::uint32_t>(dec(want)));
  }
}

TEST_CASE("dtype: e5m2 per-tensor scale and tensor quantisation") {
  CHECK(e5m2_scale(std::vector<float>{2 * 57344.0f, -1.0f}) == 2.0f);
  CHECK(e5m2_scale(std::vector<float>{-57344.0f, kInf, kNaN}) == 1.0f);  // finite values only
  CHECK(e5m2_scale(std::vector<float>(3, 0.0f)) == 1.0f);
  CHECK(e5m2_scale({}) == 1.0f);

  // Scale 2: x / 2 rounded to e5m2, times 2. 1.125 ties to 1, 1.375 ties to 1.5 (codes 0x3C|0x3D, 0x3D|0x3E).
  std::vector<float> v = {2 * 57344.0f, -2.0f, 2.25f, 2.75f, 2.6f, -kInf, kNaN};
  float scale = 0.0f;
  quantize_all(DType::e5m2, v, &scale);
  CHECK(scale == 2.0f);
  CHECK(v[0] == 2 * 57344.0f);
  CHECK(v[1] == -2.0f);
  CHECK(v[2] == 2.0f);
  CHECK(v[3] == 3.0f);
  CHECK(v[4] == 2.5f);
  CHECK(v[5] == -2 * 57344.0f);  // -Inf saturates to the largest code times the scale
  CHECK(std::isnan(v[6]));
}

}  // namespace attn
