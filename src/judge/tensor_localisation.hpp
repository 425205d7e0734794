// Where a backward case's failing tensor is wrong (SPEC §10), in words: "dk: only kv head 3 of 8;
// key tokens 320–332 of 333". The rule is the output's (src/judge/localisation.hpp): a slice of an
// axis (one kv head, one key token, ...) carries error when its largest |c - golden| exceeds
//   k · max(max over the slice of |naive - golden|, max over the slice of |tiled - golden|) + eps
// with k and eps of the tensor's max_abs gates (src/judge/tensors.hpp). Each tensor is read in its
// own axes: lse [B][H][Sq], dq [B][Sq][H][D], dk and dv [B][Sk][Hkv][D], dsinks [H].
#pragma once

#include <span>
#include <string>

#include "src/judge/localisation.hpp"

namespace attn {

struct TensorLocalisationInput {
  const CaseSpec& spec;
  std::size_t tensor;  // index into BackwardTensors::kNames
  std::span<const double> candidate, golden, naive, tiled;  // tiled may be empty (then naive only)
  double k = 3.0, eps = 0.0;
};

/// `summary` names the tensor ("dk: ..."); findings use the axes "batch", "head", "kv_head",
/// "query_token", "key_token", "kv_tile", "column". No structural checks.
Localisation localise_tensor(const TensorLocalisationInput& in);

}  // namespace attn
