// Number formats of the precision recipes and round-to-nearest-even into each of them.
// Values are carried in float (or double) after rounding; these functions only decide which
// float a value becomes. Every routine is pinned bit for bit by tests/suite/dtype_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace attn {

enum class DType { f64, f32, bf16, f16, e4m3, e5m2, int8 };

std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

/// Unit roundoff (half an ulp at 1.0) of a floating format; for int8 the step of a unit scale.
double unit_roundoff(DType t);

/// bf16: the upper 16 bits of a float32, rounded to nearest, ties to even. NaN stays NaN (quiet),
/// values past the largest bf16 become +-Inf, subnormals round like any other value.
std::uint16_t bf16_bits(float x);
float bf16_to_float(std::uint16_t bits);
float round_bf16(float x);

/// fp16 (IEEE binary16: bias 15, 10 mantissa bits, max 65504, subnormals down to 2^-24): round to
/// nearest, ties to even, subnormals included. Values that round past 65504 (|x| >= 65520) become
/// +-Inf; NaN stays NaN with its sign, the quiet bit forced and the top payload bits kept; -0 stays -0.
std::uint16_t f16_bits(float x);
float f16_to_float(std::uint16_t bits);
float round_f16(float x);

/// fp8 e4m3 as OCP E4M3FN (PyTorch float8_e4m3fn, NVIDIA): bias 7, 3 mantissa bits, no infinities,
/// max finite 448, NaN only S.1111.111, subnormals down to 2^-9. Round to nearest, ties to even,
/// *saturating*: anything past +-448 after rounding, and +-Inf, becomes +-448 (as cvt.rn.satfinite and
/// scaled quantisation do; a plain PyTorch cast would give NaN there). NaN becomes 0x7F / 0xFF by sign.
std::uint8_t e4m3_bits(float x);
float e4m3_to_float(std::uint8_t bits);
float round_e4m3(float x);

/// fp8 e5m2 as OCP E5M2 (PyTorch float8_e5m2): bias 15, 2 mantissa bits, max finite 57344, subnormals
/// down to 2^-16. Round to nearest, ties to even, saturating like e4m3 (past +-57344 and +-Inf become
/// +-57344, as scaled quantisation and cvt.rn.satfinite do); NaN becomes 0x7F / 0xFF by sign.
std::uint8_t e5m2_bits(float x);
float e5m2_to_float(std::uint8_t bits);
float round_e5m2(float x);

/// Symmetric per-tensor int8 scale: max|x| / 127 over the finite values, so the largest becomes +-127.
/// 1.0 when there is no nonzero finite value (empty, all zero, all non-finite) or max|x| / 127
/// underflows to 0: every value then quantises to 0 (or clamps, for +-Inf) instead of dividing by 0.
float int8_scale(std::span<const float> values);

/// clamp(round_half_even(x / scale), -127, 127). -128 is never produced so the range stays symmetric;
/// +-Inf clamp to +-127 and NaN becomes 0, since int8 has no NaN and 0 is the neutral value.
std::int8_t quantize_int8(float x, float scale);
float dequantize_int8(std::int8_t q, float scale);

/// Per-tensor e4m3 scale: max|x| / 448 over the finite values, so that x / scale fits +-448. Same
/// fallback to 1.0 as int8_scale.
float e4m3_scale(std::span<const float> values);
/// The same for e5m2: max|x| / 57344.
float e5m2_scale(std::span<const float> values);

/// Formats whose tensors are stored as codes times a scale (fp8, int8) rather than just rounded.
inline bool scaled_dtype(DType t) { return t == DType::e4m3 || t == DType::e5m2 || t == DType::int8; }

/// Quantises a tensor in place the way the recipe's input would be stored, leaving each value as its
/// dequantised float. e4m3, e5m2 and int8: computes the per-tensor scale s, then x -> round(x / s) * s.
/// f64, f32, bf16, f16: rounds each value (round_to) and uses s = 1. Writes s to *scale if non-null.
/// Non-finite values follow the scalar rules: +-Inf become the largest code times s; NaN stays NaN in
/// e4m3 and becomes 0 in int8.
void quantize_all(DType t, std::span<float> values, float* scale);

/// Rounds x to the nearest value of format t. f64 and f32 leave a float unchanged. e4m3 is unscaled
/// and saturating (meant for values already in range, such as P in [0, 1]). int8 throws
/// std::logic_error: its rounding depends on a tensor scale, so use quantize_int8 or quantize_all.
float round_to(DType t, float x);

/// Rounds every element of a buffer in place to t, exactly as round_to does element by element (so
/// e4m3 is unscaled). int8 throws std::logic_error even for an empty buffer, for the same reason as
/// round_to: a scaled tensor is quantize_all's job, and silently picking a scale here would hide it.
void round_all(DType t, std::span<float> values);

}  // namespace attn
