// golden: the reference attention. See golden.cpp for what it is and what it will never do.
#pragma once

#include <span>

#include "src/problem.hpp"

namespace attn {

/// Naive SDPA in float64. Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out: [B][Sq][H][D].
void golden_attention(const Problem& p, const Inputs& in, std::span<double> out, int threads = 1);

}  // namespace attn
