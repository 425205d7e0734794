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
};

}  // namespace attn
