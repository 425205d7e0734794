// The faults a mutant of the tiled kernel can carry (SPEC §9). The tiled kernel takes one as a
// parameter: a mutant is the correct kernel plus exactly one of these bugs, never a copy.
#pragma once

namespace attn {

enum class Fault {
  none,
  no_sinks,              // the sink logit is ignored
  sink_not_in_max,       // the sink enters the normaliser as exp(sink), not shifted by the running max
  no_scale,              // scores are not multiplied by the softmax scale
  double_scale,          // the scale is applied twice
  window_off_by_one,     // the window admits W + 1 keys (j >= p - W instead of j > p - W)
  causal_ignored,        // the causal mask is not applied
  no_rescale,            // online softmax forgets exp(m - m') on acc and l
  stale_max,             // the sink term of the final normaliser uses the last KV tile's own row max
  gqa_interleaved,       // query head h reads kv head h % Hkv instead of h / q_mult
  kv_tail_dropped,       // tile count max(1, Sk / kv): the partial last KV tile is skipped
  q_tail_dropped,        // tile count max(1, Sq / q): the partial last query tile is not computed (left 0)
  prefix_skipped,        // keys before q_offset are ignored (KV loop starts at the first query's position)
  tile_skip_off_by_one,  // a KV tile that holds exactly one visible key is skipped as fully masked
  acc_bf16,              // the P·V accumulator is kept in bf16
  int8_saturation,       // the int32 QKᵀ is clipped to int8 range (int8 recipe only)
  finite_mask_leak,      // mask value -1e4 in bf16 instead of -inf, and no guard for rows with no key
  // Backward faults (kernels/tiled_backward.cpp; the forward ignores them). Not in the mutant
  // table yet: the judge has no backward case to run them on, and there a backward mutant would
  // only survive every forward case.
  bwd_dsinks_zero,       // dsinks left 0
  bwd_lse_no_sink,       // P recomputed from an LSE without the sink term, log(exp(lse) - exp(sink))
  bwd_dkv_one_head,      // dK and dV from the group's first query head only, not the sum over the group
  bwd_dq_no_scale,       // dQ not multiplied by the softmax scale
  bwd_no_delta,          // D forgotten: dS = P ∘ dP
  bwd_window_off_by_one, // the backward's window admits W + 1 keys (the forward's does not)
  bwd_causal_ignored,    // the backward ignores the causal mask (the forward does not)
  bwd_kv_tail_dropped,   // the partial last KV tile's dK and dV are never written (left 0)
  bwd_dq_last_tile,      // dQ of a query tile is only its last KV tile's part, not the sum over KV tiles
};

}  // namespace attn
