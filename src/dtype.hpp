// Number formats of the precision recipes and round-to-nearest-even into each of them.
// Values are carried in float (or double) after rounding; these functions only decide which
// float a value becomes. Every routine is pinned bit for bit by tests/dtype_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace attn {

enum class DType { f64, f32, bf16, f16, e4m3, int8 };

std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

/// Unit roundoff (half an ulp at 1.0) of a floating format; for int8 the step of a unit scale.
double unit_roundoff(DType t);

/// bf16: the upper 16 bits of a float32, rounded to nearest, ties to even. NaN stays NaN (quiet),
/// values past the largest bf16 become +-Inf, subnormals round like any other value.
std::uint16_t bf16_bits(float x);
float bf16_to_float(std::uint16_t bits);
float round_bf16(float x);

/// Rounds x to the nearest value of a floating format t (f32, bf16; others once their recipes land).
/// f64 and f32 only narrow to float/double precision.
float round_to(DType t, float x);

/// Rounds every element of a buffer in place to t.
void round_all(DType t, std::span<float> values);

}  // namespace attn
