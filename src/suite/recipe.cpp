#include "src/suite/recipe.hpp"

namespace attn {

namespace {

// The table of SPEC §3.
std::vector<Recipe> builtin_recipes() {
  using D = DType;
  return {
      {.name = "fp32"},
      {.name = "bf16-mixed", .input = D::bf16, .probs = D::bf16, .output = D::bf16, .eager = D::bf16},
      {.name = "fp16-mixed", .input = D::f16, .probs = D::f16, .output = D::f16, .eager = D::f16},
      {.name = "fp8-e4m3", .input = D::e4m3, .probs = D::e4m3, .output = D::bf16, .eager = D::bf16,
       .note = "the kernel rounds P to e4m3 (unit roundoff 2^-4) before P·V, the eager bf16 reference keeps P "
               "in bf16 (2^-8): the kernel's error is expected to be several times the reference's"},
      {.name = "int8", .input = D::int8, .output = D::int8, .eager = D::f32},
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
