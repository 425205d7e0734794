// golden: the reference attention. See golden.cpp for what it is and what it will never do.
#pragma once

#include <span>

#include "src/suite/problem.hpp"

namespace attn {

/// Naive SDPA in float64. Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out: [B][Sq][H][D].
void golden_attention(const Problem& p, const Inputs& in, std::span<double> out, int threads = 1);

/// How far rounding every probability of P to a format of unit roundoff u (absolute error at most
/// `abs_floor` for its subnormals) before P·V can move an output element, in float64: the largest
/// over rows i and dims d of min(sum_j e_j |v_jd|, 3 · sqrt(sum_j e_j² v_jd²)) / l_i, where
/// e_j = max(u · p_ij, abs_floor) bounds the error of probability p_ij = exp(s_ij - m_i) (abs_floor
/// alone for the key that sets the row max: its probability is 1, exact in every format) and l_i is
/// the row's normaliser (sink term included). The first term is the worst case (every error the same
/// sign), the second 5 standard deviations of a sum of independent errors uniform in ±e_j: it is
/// what a correct kernel that rounds P more coarsely than its reference may add to the reference's
/// error (src/judge/gates.cpp). Rows with no visible key give 0.
double probs_rounding_bound(const Problem& p, const Inputs& in, double u, double abs_floor, int threads = 1);

}  // namespace attn
