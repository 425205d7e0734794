// Diagnosis of a backward case whose tensors failed and whose output did not (SPEC §10): which
// built-in mutant predicts the candidate's tensors. The hypotheses are the same table diagnose()
// uses — every mutant, backward ones included, each the tiled kernel with one fault — run forward
// and backward on the case, and `precision` (golden itself). The candidate is compared with each
// prediction tensor by tensor (out, lse when handed back, dq, dk, dv, dsinks), in units of that
// tensor's precision envelope (2 × the larger of the correct tiled kernel's and naive's max_abs
// against golden, plus one unit roundoff of its format × max |golden|); the worst tensor decides:
// score 1 / (1 + d), so a prediction explains the candidate (kExplainsScore) only when every tensor
// is within what rounding explains of it.
#pragma once

#include <span>
#include <vector>

#include "src/judge/runner.hpp"

namespace attn {

/// Best first, as diagnose(). Mutants whose tensors and output are the correct kernel's, bit for
/// bit, on this case score 0 and say so; so do mutants that cannot run it.
std::vector<Hypothesis> diagnose_tensors(PreparedCase& p, std::span<const double> out, const BackwardTensors& candidate,
                                         int threads);

}  // namespace attn
