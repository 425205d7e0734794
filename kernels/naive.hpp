// naive: the reference SDPA run eagerly in the recipe's input dtype (the seeds' PyTorch reference).
#pragma once

#include <span>

#include "src/suite/problem.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

/// Eager SDPA rounding every op's result to recipe.eager, as PyTorch eager does on bf16 tensors.
/// Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out: [B][Sq][H][D].
void naive_attention(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                     int threads = 1);

}  // namespace attn
