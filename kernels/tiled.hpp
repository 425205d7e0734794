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

/// The same pass, also writing each row's log-sum-exp to lse ([B][H][Sq], natural log, sink
/// included) from its final m and l: m + log(l + exp(sink - m)), converted from log2 units with exp2;
/// a row with no visible key gets the sink logit, or -inf without sinks (SPEC §10). out is the same
/// bits as without lse.
void tiled_attention(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> out,
                     std::span<float> lse);

/// Rounds a finished output tensor to the recipe's output dtype (int8: per-tensor quantisation).
void finish_output(const Recipe& r, std::span<float> out);

}  // namespace attn
