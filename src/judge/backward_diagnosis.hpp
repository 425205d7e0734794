// Diagnosis on the tensors beside the output (SPEC §10): a backward case's gradients, and the lse an
// external candidate may hand back on any case.
//
// diagnose_tensors explains a case whose tensors failed and whose output did not. The hypotheses are
// the same table diagnose() uses — every mutant, backward ones included, each the tiled kernel with
// one fault — run on the case (forward and backward, or forward with its lse), `precision` (golden
// itself), and two lse conventions a port gets wrong while its output is right: `lse:log2` (the lse
// stored in base 2, as kernels built on exp2 keep it) and `lse:no_sink` (the log of the visible keys'
// sum only). The candidate is compared with each prediction tensor by tensor (out, lse when handed
// back, dq, dk, dv, dsinks), in units of that tensor's precision envelope (2 × the larger of the
// correct tiled kernel's and naive's max_abs against golden, plus one unit roundoff of its format ×
// max |golden|); the worst tensor decides: score 1 / (1 + d), so a prediction explains the candidate
// (kExplainsScore) only when every tensor is within what rounding explains of it.
//
// use_lse refines a diagnosis of the output with the lse the candidate handed back: a scale or sink
// bug moves the lse, a bug on the V side does not, so each hypothesis that predicts an lse is also
// scored on it and keeps the lower of the two scores.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "src/judge/diagnosis.hpp"
#include "src/judge/runner.hpp"

namespace attn {

/// Best first, as diagnose(). Mutants whose tensors and output are the correct kernel's, bit for
/// bit, on this case score 0 and say so; so do mutants that cannot run it. On a forward case the
/// candidate's tensors hold an lse (nothing else is judged there).
std::vector<Hypothesis> diagnose_tensors(PreparedCase& p, std::span<const double> out, const BackwardTensors& candidate,
                                         int threads);

/// Rescores `h` (a diagnosis of the output from `ctx`, best first) with the candidate's lse `lse`:
/// precision and the storage-order mix-ups predict golden's lse, a mutant its own (ctx's, from the
/// pass that gave its output); each such hypothesis's score
/// becomes the lower of its output's and its lse's (1 / (1 + d), d the lse's max_abs distance in
/// units of its envelope) and its evidence says how far the lse is. Hypotheses that predict no lse
/// (layout:swap_tokens_heads, a fingerprint's recipes) keep their score and say so. Re-sorted, stable.
void use_lse(const DiagnosisContext& ctx, PreparedCase& p, std::span<const double> lse, int threads,
             std::vector<Hypothesis>* h);

/// The description of an lse-convention hypothesis ("lse:log2", "lse:no_sink"), or null.
const char* lse_convention_description(std::string_view name);

}  // namespace attn
