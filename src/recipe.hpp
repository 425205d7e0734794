// Precision recipes (SPEC §3): the dtype at each rounding point of an attention kernel.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/dtype.hpp"

namespace attn {

struct Recipe {
  std::string name;
  DType input = DType::f32;       // Q, K, V, sinks
  DType scores = DType::f32;      // S and the softmax statistics m, l
  DType probs = DType::f32;       // P before P·V
  DType accumulate = DType::f32;  // the P·V accumulator
  DType output = DType::f32;      // O
  bool exp2 = false;              // fold log2(e) into the scale and use exp2, as FA2 and NKI do
  float mask_value = -__builtin_inff();  // -inf excludes masked keys; finite values leak like real scores
};

/// The built-in recipe of that name, or nullopt.
std::optional<Recipe> recipe_by_name(std::string_view name);
/// Names of every built-in recipe, in SPEC order.
std::vector<std::string> recipe_names();

}  // namespace attn
