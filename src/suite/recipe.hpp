// Precision recipes (SPEC §3): the dtype at each rounding point of an attention kernel.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/suite/dtype.hpp"

namespace attn {

struct Recipe {
  std::string name;
  DType input = DType::f32;       // Q, K, V, sinks
  DType scores = DType::f32;      // S and the softmax statistics m, l
  DType probs = DType::f32;       // P before P·V
  DType accumulate = DType::f32;  // the P·V accumulator
  DType output = DType::f32;      // O
  // The dtype the eager `naive` reference rounds every op to. It is the input dtype where PyTorch
  // can run eagerly in it (fp32, bf16, fp16); fp8 and int8 have no eager matmul or softmax, so their
  // reference runs on the dequantised inputs the way a PyTorch user would check such a kernel:
  // bf16 for fp8 (FlashAttention-3's fp8 tests do the same), fp32 for int8 (the NPU computes in
  // int32 and fp32 after the quantised matmul).
  DType eager = DType::f32;
  bool exp2 = false;              // fold log2(e) into the scale and use exp2, as FA2 and NKI do
  float mask_value = -__builtin_inff();  // -inf excludes masked keys; finite values leak like real scores
  // Why the correct kernel's error may exceed the eager reference's in this recipe ("" if it may not).
  std::string note;

  /// Inputs and outputs quantised with a per-tensor scale (fp8, int8) rather than rounded.
  bool scaled_input() const { return input == DType::e4m3 || input == DType::int8; }
};

/// The built-in recipe of that name, or nullopt.
std::optional<Recipe> recipe_by_name(std::string_view name);
/// Names of every built-in recipe, in SPEC order.
std::vector<std::string> recipe_names();

}  // namespace attn
