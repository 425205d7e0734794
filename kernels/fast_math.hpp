// The elementwise functions of the kernels' inner loops, written with +, *, std::fma, comparisons
// and bit operations only, so that the compiler can vectorise them and every machine computes the
// same bits (std::exp's result depends on the C library; these do not).
//   exp(x)  = 2^n · P(r),  n = round(x·log2 e),  r = x - n·ln2 (Cody–Waite, two-part ln2),
//             P the Taylor polynomial of degree 7 (float) or 12 (double), Horner with fma.
//   exp2(x) = 2^n · P(r·ln2),  n = round(x),  r = x - n (exact).
// Accuracy (tests/kernels/fast_math_test.cpp): within 2 ulp (float) and 2.5 ulp (double) of the exact value for every x whose result is a
// normal number. Results below the smallest normal number are flushed to +0 (x < -87.33 in float,
// x < -708.39 in double): those are terms of a softmax at least 2^-126 times its largest term.
// Results above the largest finite number are +Inf. A NaN argument gives NaN (a score that is not
// finite, e.g. Inf - Inf), without the undefined cast of NaN to an integer.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__GNUC__)
#define ATTN_INLINE __attribute__((always_inline)) inline
#else
#define ATTN_INLINE inline
#endif

// The hot loops are compiled three times, for AVX-512, for AVX2+FMA and for any x86-64, and the
// loader picks the best one the CPU runs (GCC function multiversioning). All three use std::fma, so
// they give the same bits; the generic one calls the C library's fma and is slow. Functions called
// from a cloned function must be ATTN_INLINE so that they are compiled for the clone's target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(ATTN_DIFF_NO_CLONES)
#define ATTN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTN_CLONES
#endif

namespace attn {

namespace detail {

// 2^n · p for an integer-valued n in [-126, 128]; n = 128 is done as 2^127 · 2p.
// A NaN n (a NaN argument: then p is NaN too) is cast as -126, since casting NaN to an integer is
// undefined behaviour; the result is NaN either way. For every other n the select changes nothing.
ATTN_INLINE float scale_pow2(float p, float n) {
  const bool top = n > 127.0f;
  const float m = n >= -126.0f ? (top ? n - 1.0f : n) : -126.0f;
  const std::int32_t e = static_cast<std::int32_t>(m) + 127;
  return (top ? p + p : p) * std::bit_cast<float>(static_cast<std::uint32_t>(e) << 23);
}

ATTN_INLINE double scale_pow2(double p, double n) {
  const bool top = n > 1023.0;
  const double m = n >= -1022.0 ? (top ? n - 1.0 : n) : -1022.0;
  const std::int64_t e = static_cast<std::int64_t>(m) + 1023;
  return (top ? p + p : p) * std::bit_cast<double>(static_cast<std::uint64_t>(e) << 52);
}

// e^r for |r| <= ln2 / 2 (Taylor, degree 7: truncation error < 5e-9 relative).
ATTN_INLINE float exp_poly(float r) {
  float p = 1.0f / 5040.0f;
  p = std::fma(p, r, 1.0f / 720.0f);
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  return std::fma(p, r, 1.0f);
}

// e^r for |r| <= ln2 / 2 (Taylor, degree 12: truncation error < 2e-16 relative).
ATTN_INLINE double exp_poly(double r) {
  double p = 1.0 / 479001600;  // 1/12!, then Horner down to 1/0!
  p = std::fma(p, r, 1.0 / 39916800);
  p = std::fma(p, r, 1.0 / 3628800);
  p = std::fma(p, r, 1.0 / 362880);
  p = std::fma(p, r, 1.0 / 40320);
  p = std::fma(p, r, 1.0 / 5040);
  p = std::fma(p, r, 1.0 / 720);
  p = std::fma(p, r, 1.0 / 120);
  p = std::fma(p, r, 1.0 / 24);
  p = std::fma(p, r, 1.0 / 6);
  p = std::fma(p, r, 0.5);
  p = std::fma(p, r, 1.0);
  p = std::fma(p, r, 1.0);
  return p;
}

// round-to-nearest of |x| < 2^22 (float) / 2^51 (double) by the add-and-subtract trick
ATTN_INLINE float round_int(float x) { return (x + 12582912.0f) - 12582912.0f; }
ATTN_INLINE double round_int(double x) { return (x + 6755399441055744.0) - 6755399441055744.0; }

}  // namespace detail

/// e^x as described at the top of this file.
ATTN_INLINE float fast_exp(float x) {
  constexpr float lo = -87.3365478515625f, hi = 88.72283935546875f;  // ln(FLT_MIN), ~ln(FLT_MAX)
  const float xc = x < lo ? lo : (x > hi ? hi : x);
  const float n = detail::round_int(xc * 1.44269504088896341f);
  float r = std::fma(-n, 0.693145751953125f, xc);  // ln2 = 0.693145751953125 + 1.42860682030941723e-6
  r = std::fma(-n, 1.42860682030941723e-6f, r);
  const float y = detail::scale_pow2(detail::exp_poly(r), n);
  return x < lo ? 0.0f : (x > hi ? INFINITY : y);
}

/// 2^x as described at the top of this file.
ATTN_INLINE float fast_exp2(float x) {
  const float xc = x < -126.0f ? -126.0f : (x > 128.0f ? 128.0f : x);
  const float n = detail::round_int(xc);
  const float y = detail::scale_pow2(detail::exp_poly((xc - n) * 0.693147180559945309f), n);
  return x < -126.0f ? 0.0f : (x >= 128.0f ? INFINITY : y);
}

/// e^x in float64, as described at the top of this file.
ATTN_INLINE double fast_exp(double x) {
  constexpr double lo = -708.3964185322641, hi = 709.782712893384;  // ln(DBL_MIN), ln(DBL_MAX)
  const double xc = x < lo ? lo : (x > hi ? hi : x);
  const double n = detail::round_int(xc * 1.4426950408889634);
  double r = std::fma(-n, 6.93147180369123816490e-01, xc);  // fdlibm's two-part ln2
  r = std::fma(-n, 1.90821492927058770002e-10, r);
  const double y = detail::scale_pow2(detail::exp_poly(r), n);
  return x < lo ? 0.0 : (x > hi ? INFINITY : y);
}

/// round_bf16 for finite x, in a form that vectorises: the same bits as round_bf16 for every finite
/// float (values that round past the largest bf16 become +-Inf, as there).
ATTN_INLINE float round_bf16_finite(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return std::bit_cast<float>(u & 0xFFFF0000u);
}

/// round_f16 for finite x, in a form that vectorises: the same bits as round_f16 for every finite
/// float, -0 and subnormals included (values that round past 65504 become +-Inf, as there). Normal
/// results drop 13 mantissa bits with the carry trick of round_bf16_finite; results below 2^-14
/// are multiples of 2^-24, which (|x| + 0.75) - 0.75 rounds to (its ulp in [0.5, 1) is 2^-24).
ATTN_INLINE float round_f16_finite(float x) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t sign = u & 0x80000000u, a = u & 0x7FFFFFFFu;
  const std::uint32_t normal = (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
  const std::uint32_t sub = std::bit_cast<std::uint32_t>((std::bit_cast<float>(a) + 0.75f) - 0.75f);
  const std::uint32_t r = a < 0x38800000u ? sub : (normal > 0x477FE000u ? 0x7F800000u : normal);
  return std::bit_cast<float>(sign | r);
}

}  // namespace attn
