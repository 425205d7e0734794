// The backward pass and the log-sum-exp (SPEC §10): the tensors a backward case judges besides the
// output, and the three computations of them, as for the forward (SPEC §3):
//   golden  float64 from SPEC §10's formulas, in the same pass as golden's forward (kernels/golden.cpp)
//   naive   PyTorch eager autograd through the naive forward's ops, rounding after each op in the
//           recipe's eager dtype, in the same pass as naive's forward (kernels/naive.cpp)
//   tiled   the FlashAttention-2 backward: per (batch, KV head, KV tile), over the query tiles of every
//           query head of the group, P recomputed from the saved LSE (kernels/tiled_backward.cpp)
// The upstream gradient is Inputs::dout ([B][Sq][H][D], rounded to the recipe's input dtype); the
// loss is L = sum(O ∘ dO). A row with no visible key has lse = sink (sinks) or -inf and contributes
// no gradient.
#pragma once

#include <span>
#include <vector>

#include "kernels/tiled.hpp"
#include "src/suite/problem.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

/// dq: [B][Sq][H][D], dk, dv: [B][Sk][Hkv][D], dsinks: [H] (empty when the problem has no sinks).
template <class T>
struct Gradients {
  std::vector<T> dq, dk, dv, dsinks;
};

/// Shape of the LSE tensor: [B][H][Sq] (FlashAttention's layout).
inline std::int64_t lse_elements(const Shape& s) { return s.batch * s.heads * s.tokens; }
inline std::int64_t bhs(std::int64_t b, std::int64_t h, std::int64_t i, const Shape& s) {
  return (b * s.heads + h) * s.tokens + i;
}

/// golden's forward LSE in float64: lse[b][h][i] = m + log Z, sink included.
void golden_lse(const Problem& p, const Inputs& in, std::span<double> lse, int threads = 1);

/// golden's forward (out: golden_attention's, bit for bit), its LSE and its backward in float64
/// (SPEC §10, from in.dout), in one pass over the scores.
Gradients<double> golden_forward_backward(const Problem& p, const Inputs& in, std::span<double> out,
                                          std::span<double> lse, int threads = 1);
/// golden_forward_backward's gradients alone.
Gradients<double> golden_backward(const Problem& p, const Inputs& in, int threads = 1);

/// naive forward LSE and backward: eager autograd in recipe.eager. naive_forward_backward gives
/// naive_attention's output (bit for bit), the LSE and the gradients in one pass.
void naive_lse(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> lse, int threads = 1);
Gradients<float> naive_forward_backward(const Problem& p, const Inputs& in, const Recipe& recipe, std::span<float> out,
                                        std::span<float> lse, int threads = 1);
Gradients<float> naive_backward(const Problem& p, const Inputs& in, const Recipe& recipe, int threads = 1);

/// The tiled forward's LSE (the same online softmax as tiled_attention, its final m + log l).
void tiled_lse(const Problem& p, const Inputs& in, const TiledOptions& opt, std::span<float> lse);

/// The tiled FlashAttention-2 backward from the forward's output and LSE, under opt.recipe (and
/// opt.fault for a backward mutant). Bit-identical for every thread count.
Gradients<float> tiled_backward(const Problem& p, const Inputs& in, std::span<const float> out,
                                std::span<const float> lse, const TiledOptions& opt);

}  // namespace attn
