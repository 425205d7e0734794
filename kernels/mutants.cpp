#include "kernels/mutants.hpp"

#include "src/base/diagnostic.hpp"

namespace attn {

const std::vector<MutantInfo>& mutants() {
  static const std::vector<MutantInfo> table = {
      {"no_sinks", "the learned sink logit is ignored", Fault::no_sinks, {"sinks"}},
      {"sink_not_in_max", "the sink enters the normaliser as exp(sink), not shifted by the running max",
       Fault::sink_not_in_max, {"sinks"}},
      {"no_scale", "scores are not multiplied by the softmax scale 1/sqrt(D)", Fault::no_scale, {}},
      {"double_scale", "the softmax scale is applied twice", Fault::double_scale, {}},
      {"window_off_by_one", "the sliding window admits W + 1 keys (j >= p - W instead of j > p - W)",
       Fault::window_off_by_one, {"window_cuts_row"}},
      {"causal_ignored", "the causal mask is not applied (future keys are visible)", Fault::causal_ignored,
       {"causal_cuts_row"}},
      {"no_rescale", "online softmax forgets exp(m - m') on the accumulator and the sum", Fault::no_rescale,
       {"multi_kv_tile"}},
      {"stale_max", "the final normaliser folds the sink in with the last KV tile's own row max", Fault::stale_max,
       {"sinks"}},
      {"gqa_interleaved", "query head h reads kv head h % Hkv instead of h / q_mult", Fault::gqa_interleaved,
       {"gqa_grouped"}},
      {"kv_tail_dropped", "KV tile count max(1, Sk / kv_tile): the partial last KV tile is skipped",
       Fault::kv_tail_dropped, {"partial_kv_tail"}},
      {"q_tail_dropped", "query tile count max(1, Sq / q_tile): the partial last query tile is never computed",
       Fault::q_tail_dropped, {"partial_q_tail"}},
      {"prefix_skipped", "keys before q_offset are ignored, as a decode kernel starting its KV loop at the first query",
       Fault::prefix_skipped, {"prefix_keys"}},
      {"tile_skip_off_by_one", "a KV tile holding exactly one visible key is skipped as fully masked",
       Fault::tile_skip_off_by_one, {"one_key_tile"}},
      {"acc_bf16", "the P·V accumulator is kept in bf16 instead of fp32", Fault::acc_bf16, {}},
      {"int8_saturation", "the int32 QKᵀ is clipped to the int8 range before dequantisation", Fault::int8_saturation,
       {"int8"}, "int8"},
      {"finite_mask_leak", "mask value -1e4 in bf16 instead of -inf, and rows with no visible key are not zeroed",
       Fault::finite_mask_leak, {"empty_row_without_sinks"}},
      // The backward pass's bugs (kernels/tiled_backward.cpp): the forward is the correct kernel's.
      {"bwd_dsinks_zero", "backward: dsinks is left zero", Fault::bwd_dsinks_zero, {"backward", "sinks"}, "", true},
      {"bwd_lse_no_sink", "backward: P is recomputed from an LSE without the sink term", Fault::bwd_lse_no_sink,
       {"backward", "sinks"}, "", true},
      {"bwd_dkv_one_head", "backward: dK and dV come from the group's first query head, not the sum over the group",
       Fault::bwd_dkv_one_head, {"backward", "gqa_grouped"}, "", true},
      {"bwd_dq_no_scale", "backward: dQ is not multiplied by the softmax scale", Fault::bwd_dq_no_scale, {"backward"}, "",
       true},
      {"bwd_no_delta", "backward: D = rowsum(dO * O) is forgotten, dS = P * dP", Fault::bwd_no_delta, {"backward"}, "",
       true},
      {"bwd_window_off_by_one", "backward: the window admits W + 1 keys while the forward's admits W",
       Fault::bwd_window_off_by_one, {"backward", "window_cuts_row"}, "", true},
      {"bwd_causal_ignored", "backward: the causal mask is ignored while the forward applies it", Fault::bwd_causal_ignored,
       {"backward", "causal_cuts_row"}, "", true},
      {"bwd_kv_tail_dropped", "backward: the partial last KV tile's dK and dV are never written",
       Fault::bwd_kv_tail_dropped, {"backward", "partial_kv_tail"}, "", true},
      {"bwd_dq_last_tile", "backward: a query tile's dQ holds only its last KV tile's part, not the sum over KV tiles",
       Fault::bwd_dq_last_tile, {"backward", "multi_kv_tile"}, "", true},
  };
  return table;
}

const MutantInfo* find_mutant(const std::string& name) {
  for (const MutantInfo& m : mutants())
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<std::string> mutant_names() {
  std::vector<std::string> names;
  for (const MutantInfo& m : mutants()) names.push_back(m.name);
  return names;
}

std::string mutant_unsupported(const MutantInfo& m, const Recipe& recipe) {
  // A bug of the int8 recipe needs its integer Q·K codes, whatever else the recipe overrides.
  if (!m.only_recipe.empty() && (recipe.preset != m.only_recipe || (m.only_recipe == "int8" && recipe.q != DType::int8)))
    return m.name + " models a bug of the " + m.only_recipe + " recipe; this case runs " + recipe.name;
  // The fault keeps an fp32 accumulator in bf16: on an accumulator the recipe already narrows it is
  // no fault (bf16: the same kernel; fp16: rounds a narrow accumulator differently, not a bug).
  if (m.fault == Fault::acc_bf16 && recipe.acc_pv != DType::f32)
    return m.name + " narrows an fp32 P·V accumulator to bf16; this case's recipe " + recipe.name +
           " already accumulates P·V in " + std::string(recipe_dtype_name(recipe.acc_pv));
  return "";
}

std::string mutant_unsupported(const MutantInfo& m, const CaseSpec& c) {
  if (m.backward && !c.backward)
    return m.name + " models a bug of the backward pass; this case is forward only (set \"backward\": true)";
  return mutant_unsupported(m, c.recipe);
}

std::string unknown_mutant_message(const std::string& name) {
  const std::string near = nearest(name, mutant_names());
  return "error: unknown mutant '" + printable(name) + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
         "\nnote: attn-diff list-mutants prints them all";
}

}  // namespace attn
