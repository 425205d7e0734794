#include "src/recipe.hpp"

namespace attn {

namespace {

// The table of SPEC §3. A recipe listed here but not yet implemented by the kernels is refused
// by config validation, not silently run in another precision.
std::vector<Recipe> builtin_recipes() {
  return {
      {.name = "fp32"},
      {.name = "bf16-mixed", .input = DType::bf16, .probs = DType::bf16, .output = DType::bf16},
  };
}

}  // namespace

std::optional<Recipe> recipe_by_name(std::string_view name) {
  for (const Recipe& r : builtin_recipes())
    if (r.name == name) return r;
  return std::nullopt;
}

std::vector<std::string> recipe_names() {
  std::vector<std::string> names;
  for (const Recipe& r : builtin_recipes()) names.push_back(r.name);
  return names;
}

}  // namespace attn
