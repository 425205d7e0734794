// Inputs of a case: Q, K, V and sinks drawn from the case's distributions with the written-down
// generator of rng.hpp, then rounded to the recipe's input dtype.
#pragma once

#include "src/suite/config.hpp"
#include "src/suite/problem.hpp"
#include "src/suite/rng.hpp"

#include <span>

namespace attn {

/// The inputs of a case, bit-identical for the same case on every machine and thread count.
Inputs make_inputs(const CaseSpec& c, int threads = 1);

/// Rounds (or quantises, with per-tensor or per-head scales) each of Q, K, V and sinks to its own
/// input dtype of the recipe, setting the scales. Applied to inputs already in a recipe, it stores
/// them again the way a kernel in recipe `r` would (the precision fingerprint's inputs).
void quantize_inputs(const Recipe& r, const Shape& s, Inputs& in, int threads = 1);

/// Fills out[n] = draw n of `dist` on the stream `s` of `seed` (as float, not yet rounded to a recipe).
/// Element n depends only on (seed, stream, n), so `threads` split the span without changing a bit.
void fill_distribution(const Distribution& dist, std::uint64_t seed, Stream s, Stream outliers, std::span<float> out,
                       int threads = 1);

}  // namespace attn
