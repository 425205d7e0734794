// tiled: the kernel under test, FlashAttention-2 style (SPEC §3 "Tiled kernel").
#pragma once

#include <cstdint>
#include <span>

#include "kernels/fault.hpp"
#include "src/suite/problem.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

struct TiledOptions {
  Recipe recipe;
  TileSizes tiles;
  int threads = 1;
  Fault fault = Fault::none;  // a mutant's one bug; none for the correct kernel
};

/// Online-softmax attention over q × kv tiles with the recipe's rounding points, sinks folded into
/// the final normaliser, fully masked KV tiles skipped.
/// Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out: [B][Sq][H][D].
void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out);

/// Rounds a finished output tensor to the recipe's output dtype (int8: per-tensor quantisation).
void finish_output(const Recipe& r, std::span<float> out);

}  // namespace attn
