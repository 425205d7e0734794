// kernels/fast_math.hpp against the exact value (long double exp), and the vectorisable bf16 rounding
// against the reference one of src/suite/dtype.cpp.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/fast_math.hpp"
#include "src/suite/dtype.hpp"

using namespace attn;

namespace {

// |got - exact| in units of the last place of exact, for a format with `digits` significand bits.
double ulps(double got, long double exact, int digits) {
  int e = 0;
  std::frexp(static_cast<double>(exact), &e);
  return static_cast<double>(std::fabs(got - exact) / std::ldexp(1.0L, e - digits));
}

}  // namespace

TEST_CASE("fast_exp and fast_exp2 are within 2 ulp, 2.5 in float64, wherever the result is normal", "[fast_math]") {
  double worst_f = 0, worst_2 = 0, worst_d = 0;
  for (float x = -87.3f; x < 88.7f; x += 0.000731f) worst_f = std::max(worst_f, ulps(fast_exp(x), std::exp((long double)x), 24));
  for (float x = -125.99f; x < 127.99f; x += 0.000917f) worst_2 = std::max(worst_2, ulps(fast_exp2(x), std::exp2((long double)x), 24));
  for (double x = -708.3; x < 709.7; x += 0.00371) worst_d = std::max(worst_d, ulps(fast_exp(x), std::exp((long double)x), 53));
  INFO("worst float exp " << worst_f << " ulp, exp2 " << worst_2 << ", double exp " << worst_d);
  CHECK(worst_f <= 2.0);
  CHECK(worst_2 <= 2.0);
  CHECK(worst_d <= 2.5);
}

TEST_CASE("fast_exp: exact at 0, 0 for -inf and below the normal range, inf above the finite range", "[fast_math]") {
  constexpr float inf = std::numeric_limits<float>::infinity();
  CHECK(fast_exp(0.0f) == 1.0f);
  CHECK(fast_exp2(0.0f) == 1.0f);
  CHECK(fast_exp2(-3.0f) == 0.125f);  // integer arguments are exact powers of two
  CHECK(fast_exp(0.0) == 1.0);
  CHECK(fast_exp(-inf) == 0.0f);
  CHECK(fast_exp2(-inf) == 0.0f);
  CHECK(fast_exp(-double(inf)) == 0.0);
  CHECK(fast_exp(-88.0f) == 0.0f);  // e^-88 < FLT_MIN: flushed
  CHECK(fast_exp(-87.0f) > 0.0f);
  CHECK(fast_exp(88.5f) > 2e38f);   // 2^127 · 2p path
  CHECK(fast_exp(88.5f) < inf);
  CHECK(fast_exp(89.0f) == inf);
  CHECK(fast_exp(inf) == inf);
  CHECK(fast_exp2(128.0f) == inf);
  CHECK(fast_exp(710.0) == double(inf));
}

TEST_CASE("round_bf16_finite gives round_bf16's bits for every finite float tried", "[fast_math]") {
  std::uint64_t x = 12345;
  int tried = 0;
  for (int n = 0; n < 2000000; ++n) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(x >> 32));
    if (!std::isfinite(f)) continue;
    ++tried;
    if (std::bit_cast<std::uint32_t>(round_bf16_finite(f)) != std::bit_cast<std::uint32_t>(round_bf16(f)))
      FAIL("differs at " << f);
  }
  // ties to even both ways, and the carry into the exponent up to infinity
  for (std::uint32_t u : {0x3F808000u, 0x3F818000u, 0x7F7FFFFFu, 0xFF7F8000u, 0x00008000u, 0x80018000u})
    CHECK(std::bit_cast<std::uint32_t>(round_bf16_finite(std::bit_cast<float>(u))) ==
          std::bit_cast<std::uint32_t>(round_bf16(std::bit_cast<float>(u))));
  CHECK(tried > 1900000);
}

TEST_CASE("round_f16_finite gives round_f16's bits for every finite float tried", "[fast_math]") {
  auto same = [](float f) {
    return std::bit_cast<std::uint32_t>(round_f16_finite(f)) == std::bit_cast<std::uint32_t>(round_f16(f));
  };
  // Every float whose exponent fp16 can reach or round to (|x| in [2^-26, 2^17), both signs), every
  // 61st bit pattern: normals, subnormals, the underflow to 0 and the overflow to Inf.
  std::int64_t tried = 0;
  for (std::uint32_t u = 0x32800000u; u < 0x48000000u; u += 61)
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      ++tried;
      if (!same(std::bit_cast<float>(u | sign))) FAIL("differs at bits " << std::hex << (u | sign));
    }
  // Each fp16 value's midpoints to its neighbours and one float either side (ties to even, the carry
  // into the next exponent, the subnormal-normal edge at 2^-14, 65504 -> 65520 -> Inf).
  for (std::uint32_t h = 0; h < 0x7C00u; ++h) {
    const float lo = f16_to_float(static_cast<std::uint16_t>(h)), hi = f16_to_float(static_cast<std::uint16_t>(h + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: fp16 values have 11 significant bits
    for (float f : {lo, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), -mid, -lo}) {
      ++tried;
      if (!same(f)) FAIL("differs at " << f);
    }
  }
  for (float f : {0.0f, -0.0f, 1e-30f, -1e-30f, 65519.99f, 65520.0f, -65520.0f, 3.4e38f, -3.4e38f, 0x1p-25f, 0x1.8p-25f,
                  0x1p-24f, 0x1.fffp-15f, 0x1.ffcp-15f, 0x1.ffep-15f})
    CHECK(same(f));
  CHECK(round_f16_finite(65520.0f) == INFINITY);
  CHECK(std::signbit(round_f16_finite(-1e-30f)));
  CHECK(tried > 1000000);
}
