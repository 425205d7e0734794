// Precision recipes (SPEC §3, docs/precision.md): the format at each rounding point of an attention
// kernel, as data. The five built-in recipes are presets; a case may name a preset, a preset with
// overrides ("fp32+k=fp16+v=fp16+acc_pv=fp16", or the same as a JSON object), and every such recipe
// has one canonical name, the string reports print and `--precision` takes back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/suite/dtype.hpp"

namespace attn {

/// How a scaled (fp8) K or V tensor chooses its scale: one for the tensor, or one per KV head as
/// vLLM's fp8 KV cache does (`kv_scale`). Q and sinks always use a per-tensor scale.
enum class ScaleScheme { per_tensor, per_head };

struct Recipe {
  std::string name;    // canonical: recipe_name(*this)
  std::string preset;  // the built-in recipe it starts from; its default gates apply
  DType q = DType::f32, k = DType::f32, v = DType::f32, sinks = DType::f32;  // inputs, each in its own format
  DType scores = DType::f32;      // S and the softmax statistics m
  DType probs = DType::f32;       // P before P·V
  DType acc_pv = DType::f32;      // the P·V accumulator, rounded after every key's update and rescale
  DType acc_rowsum = DType::f32;  // the row sum l, rounded after every tile's update
  DType output = DType::f32;      // O
  // The dtype the eager `naive` reference rounds every op to. It is the input dtype where PyTorch
  // can run eagerly in it (fp32, bf16, fp16); fp8 and int8 have no eager matmul or softmax, so their
  // reference runs on the dequantised inputs the way a PyTorch user would check such a kernel:
  // bf16 for fp8 (FlashAttention-3's fp8 tests do the same), fp32 for int8 (the NPU computes in
  // int32 and fp32 after the quantised matmul). Overrides keep the preset's.
  DType eager = DType::f32;
  ScaleScheme kv_scale = ScaleScheme::per_tensor;
  bool exp2 = false;              // fold log2(e) into the scale and use exp2, as FA2 and NKI do
  float mask_value = -__builtin_inff();  // -inf excludes masked keys; finite values leak like real scores
  // Why the correct kernel's error may exceed the eager reference's in this recipe ("" if it may not).
  std::string note;

  /// Some input is quantised with a scale (fp8, int8) rather than rounded.
  bool scaled_input() const { return scaled_dtype(q) || scaled_dtype(k) || scaled_dtype(v) || scaled_dtype(sinks); }
  /// Q, K, V and sinks share one format.
  bool uniform_inputs() const { return q == k && k == v && v == sinks; }
  /// The kernel rounds inside the softmax or the accumulators where the eager reference does not
  /// (scores, P·V or row-sum accumulator narrower than fp32), so the eager error is no yardstick.
  bool narrow_internals() const {
    return scores != DType::f32 || acc_pv != DType::f32 || acc_rowsum != DType::f32;
  }
};

/// The format a backward case's upstream gradient dO is stored in (SPEC §10: the recipe's input
/// dtype): Q's. A backward case never has a scaled Q (case_parse refuses fp8 and int8 inputs).
inline DType grad_dtype(const Recipe& r) { return r.q; }

/// The built-in recipe of that name, or nullopt.
std::optional<Recipe> recipe_by_name(std::string_view name);
/// Names of every built-in recipe, in SPEC order.
std::vector<std::string> recipe_names();

/// The keys a recipe override may set, in canonical order (shorthands: `kv` sets k and v, `inputs`
/// sets q, k, v and sinks).
const std::vector<std::string>& recipe_keys();

/// Sets one key of a recipe from its text value ("fp16", "per_head", "true", "-1e6"). False with a
/// message naming the key and the accepted values when the key or the value is not known. Does not
/// check the recipe as a whole (check_recipe) nor update its name and note (finish_recipe).
bool set_recipe_key(Recipe& r, std::string_view key, std::string_view value, std::string* err);

/// Problems of the recipe as a whole ("" when none): int8 on only one of q and k, a per-head
/// scale without an fp8 K or V.
std::string check_recipe(const Recipe& r);

/// Sets name and note from the fields (a preset's own note is kept while it is unchanged).
void finish_recipe(Recipe& r);

/// key=value pairs applied to a preset, in order.
using RecipeOverrides = std::vector<std::pair<std::string, std::string>>;

/// Splits "PRESET" or "PRESET+key=value+..." into the preset (checked to exist) and the overrides
/// (not yet checked). False with a message naming the part that is wrong.
bool split_recipe_text(std::string_view text, Recipe* preset, RecipeOverrides* overrides, std::string* err);

/// `base` with the overrides applied, checked and finished; nullopt with a message on a bad key,
/// value or combination.
std::optional<Recipe> apply_recipe_overrides(Recipe base, const RecipeOverrides& overrides, std::string* err);

/// "PRESET" or "PRESET+key=value+...": split_recipe_text, then apply_recipe_overrides.
std::optional<Recipe> parse_recipe_text(std::string_view text, std::string* err);

/// The canonical name: the preset's name, then "+key=value" for every rounding point (and kv_scale)
/// that differs from the preset, in recipe_keys() order. exp2 and mask_value are options of the case
/// (its features), not part of the name, so a preset with them keeps its name.
std::string recipe_name(const Recipe& r);
/// The name with "+exp2=true" and "+mask_value=V" where they differ from the preset: the full
/// recipe as one string, which parse_recipe_text reads back (precision hypotheses are named by it).
std::string recipe_spec(const Recipe& r);

/// The inputs' dtype as dumps and manifests name it (dtype_name: "bf16", "f32"), or "mixed" when
/// Q, K, V and sinks differ (input_dtypes then says which is which).
std::string input_dtype_label(const Recipe& r);

/// A recipe value's spelling in names: fp32, fp16, bf16, e4m3, e5m2, int8.
std::string_view recipe_dtype_name(DType t);

/// What `to` does differently from `from`, in words: "K and V stored as fp16, P·V accumulated in fp16".
/// "" when they round alike.
std::string describe_recipe_change(const Recipe& from, const Recipe& to);

}  // namespace attn
