#include "src/suite/dtype.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace attn {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "f64";
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::e4m3: return "e4m3";
    case DType::e5m2: return "e5m2";
    case DType::int8: return "int8";
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::e4m3, DType::e5m2, DType::int8})
    if (dtype_name(t) == name) return t;
  return std::nullopt;
}

double unit_roundoff(DType t) {
  switch (t) {
    case DType::f64: return std::ldexp(1.0, -53);
    case DType::f32: return std::ldexp(1.0, -24);
    case DType::bf16: return std::ldexp(1.0, -8);
    case DType::f16: return std::ldexp(1.0, -11);
    case DType::e4m3: return std::ldexp(1.0, -4);
    case DType::e5m2: return std::ldexp(1.0, -3);
    case DType::int8: return 0.5;
  }
  return 0.0;
}

std::uint16_t bf16_bits(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if (std::isnan(x)) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // keep sign, force quiet
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; a carry out of the
  // mantissa bumps the exponent, which is exactly the right rounding (up to Inf past the max).
  std::uint32_t lsb = (u >> 16) & 1u;
  u += 0x7FFFu + lsb;
  return static_cast<std::uint16_t>(u >> 16);
}

float bf16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

float round_bf16(float x) { return bf16_to_float(bf16_bits(x)); }

namespace {

// v / 2^shift rounded to nearest, ties to even.
std::uint32_t shift_rne(std::uint32_t v, int shift) {
  if (shift > 31) return 0;  // v < 2^32 <= 2^(shift-1): below half of one
  if (shift == 0) return v;
  std::uint32_t q = v >> shift, rem = v & ((1u << shift) - 1), half = 1u << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
}

// Magnitude code of a finite |x| (float bits without sign) in a format with `mant` mantissa bits and
// exponent `bias`, rounded to nearest even, with no upper limit: a result past the format's largest
// finite code tells the caller it overflowed. The code is exponent-field << mant | mantissa, so one
// rounding serves normals and subnormals, and a carry out of the mantissa is the right next exponent.
std::uint32_t small_float_code(std::uint32_t abs_bits, int mant, int bias) {
  int e = static_cast<int>(abs_bits >> 23) - 127;
  std::uint32_t m = abs_bits & 0x7FFFFFu;
  if ((abs_bits >> 23) == 0) e = -126;  // float subnormal: no implicit bit
  else m |= 0x800000u;
  const int emin = 1 - bias;
  if (e >= emin)  // normal in the target: re-bias the exponent field and drop 23 - mant bits
    return shift_rne(static_cast<std::uint32_t>(e + bias) << 23 | (m & 0x7FFFFFu), 23 - mant);
  return shift_rne(m, 23 - mant + (emin - e));  // subnormal: units of 2^(emin - mant)
}

}  // namespace

std::uint16_t f16_bits(float x) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
  if (a == 0x7F800000u) return sign | 0x7C00u;
  return static_cast<std::uint16_t>(sign | std::min<std::uint32_t>(small_float_code(a, 10, 15), 0x7C00u));
}

float f16_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t e = (bits >> 10) & 0x1Fu, m = bits & 0x3FFu;
  if (e == 0) return std::copysign(std::ldexp(static_cast<float>(m), -24), sign ? -1.0f : 1.0f);
  const std::uint32_t fe = e == 31 ? 255u : e - 15 + 127;
  return std::bit_cast<float>(sign | fe << 23 | m << 13);
}

float round_f16(float x) { return f16_to_float(f16_bits(x)); }

namespace {

// The fp8 code of x in a format with `mant` mantissa bits and exponent `bias`, saturating: NaN
// becomes sign | 0x7F, +-Inf and anything rounding past the largest finite code `max_finite` that.
std::uint8_t fp8_bits(float x, int mant, int bias, std::uint32_t max_finite) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  const std::uint8_t sign = static_cast<std::uint8_t>((u >> 24) & 0x80u);
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7Fu;
  if (a == 0x7F800000u) return static_cast<std::uint8_t>(sign | max_finite);
  return static_cast<std::uint8_t>(sign | std::min<std::uint32_t>(small_float_code(a, mant, bias), max_finite));
}

}  // namespace

// 0x7F would be the next code past 448 but is NaN in E4M3FN, so anything reaching it saturates.
std::uint8_t e4m3_bits(float x) { return fp8_bits(x, 3, 7, 0x7Eu); }

float e4m3_to_float(std::uint8_t bits) {
  const float sign = (bits & 0x80u) ? -1.0f : 1.0f;
  const int e = (bits >> 3) & 0xF, m = bits & 0x7;
  if (e == 15 && m == 7) return std::copysign(std::numeric_limits<float>::quiet_NaN(), sign);
  if (e == 0) return sign * std::ldexp(static_cast<float>(m), -9);
  return sign * std::ldexp(static_cast<float>(8 + m), e - 7 - 3);
}

float round_e4m3(float x) { return e4m3_to_float(e4m3_bits(x)); }

// 0x7B is 57344; 0x7C is Inf in E5M2, which saturation never produces.
std::uint8_t e5m2_bits(float x) { return fp8_bits(x, 2, 15, 0x7Bu); }

float e5m2_to_float(std::uint8_t bits) {
  const float sign = (bits & 0x80u) ? -1.0f : 1.0f;
  const int e = (bits >> 2) & 0x1F, m = bits & 0x3;
  if (e == 31) return m ? std::copysign(std::numeric_limits<float>::quiet_NaN(), sign)
                        : sign * std::numeric_limits<float>::infinity();
  if (e == 0) return sign * std::ldexp(static_cast<float>(m), -16);
  return sign * std::ldexp(static_cast<float>(4 + m), e - 15 - 2);
}

float round_e5m2(float x) { return e5m2_to_float(e5m2_bits(x)); }

namespace {

// max|x| / limit over the finite values, 1.0 when that is not a usable positive number.
float per_tensor_scale(std::span<const float> values, float limit) {
  float amax = 0.0f;
  for (float v : values)
    if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
  const float s = amax / limit;
  return s > 0.0f ? s : 1.0f;
}

}  // namespace

float int8_scale(std::span<const float> values) { return per_tensor_scale(values, 127.0f); }
float e4m3_scale(std::span<const float> values) { return per_tensor_scale(values, 448.0f); }
float e5m2_scale(std::span<const float> values) { return per_tensor_scale(values, 57344.0f); }

std::int8_t quantize_int8(float x, float scale) {
  float q = x / scale;
  if (std::isnan(q)) return 0;
  q = std::clamp(q, -127.0f, 127.0f);  // the bounds are integers, so clamping first changes nothing
  // Explicit ties-to-even rather than std::nearbyint, which follows the current FP rounding mode.
  float r = std::floor(q);
  const float d = q - r;  // exact: |q| <= 127
  if (d > 0.5f || (d == 0.5f && std::fmod(r, 2.0f) != 0.0f)) r += 1.0f;
  return static_cast<std::int8_t>(r);
}

float dequantize_int8(std::int8_t q, float scale) { return static_cast<float>(q) * scale; }

void quantize_all(DType t, std::span<float> values, float* scale) {
  float s = 1.0f;
  switch (t) {
    case DType::e4m3:
      s = e4m3_scale(values);
      for (float& v : values) v = round_e4m3(v / s) * s;
      break;
    case DType::e5m2:
      s = e5m2_scale(values);
      for (float& v : values) v = round_e5m2(v / s) * s;
      break;
    case DType::int8:
      s = int8_scale(values);
      for (float& v : values) v = dequantize_int8(quantize_int8(v, s), s);
      break;
    default: round_all(t, values); break;
  }
  if (scale) *scale = s;
}

float round_to(DType t, float x) {
  switch (t) {
    case DType::f64:
    case DType::f32: return x;
    case DType::bf16: return round_bf16(x);
    case DType::f16: return round_f16(x);
    case DType::e4m3: return round_e4m3(x);
    case DType::e5m2: return round_e5m2(x);
    case DType::int8: break;
  }
  throw std::logic_error("round_to: " + std::string(dtype_name(t)) +
                         " has no scalar rounding; it needs a per-tensor scale (use quantize_all)");
}

void round_all(DType t, std::span<float> values) {
  if (t == DType::int8) round_to(t, 0.0f);  // throws, even for an empty buffer
  if (t == DType::f32 || t == DType::f64) return;
  for (float& v : values) v = round_to(t, v);
}

}  // namespace attn
