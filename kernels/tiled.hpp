// tiled: the kernel under test, FlashAttention-2 style (SPEC §3 "Tiled kernel").
#pragma once

#include <cstdint>
#include <span>

#include "src/problem.hpp"
#include "src/recipe.hpp"

namespace attn {

struct TileSizes {
  std::int64_t q = 128;   // queries per tile
  std::int64_t kv = 2048;  // keys per tile
};

struct TiledOptions {
  Recipe recipe;
  TileSizes tiles;
  int threads = 1;
};

/// Online-softmax attention over q × kv tiles with the recipe's rounding points, sinks folded into
/// the final normaliser, fully masked KV tiles skipped.
/// Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out: [B][Sq][H][D].
void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out);

}  // namespace attn
