#include "src/dtype.hpp"

#include <bit>
#include <cmath>
#include <stdexcept>

namespace attn {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "f64";
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::e4m3: return "e4m3";
    case DType::int8: return "int8";
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::e4m3, DType::int8})
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

float round_to(DType t, float x) {
  switch (t) {
    case DType::f64:
    case DType::f32: return x;
    case DType::bf16: return round_bf16(x);
    default: break;
  }
  throw std::logic_error("round_to: no scalar rounding for " + std::string(dtype_name(t)));
}

void round_all(DType t, std::span<float> values) {
  if (t == DType::f32 || t == DType::f64) return;
  for (float& v : values) v = round_to(t, v);
}

}  // namespace attn
