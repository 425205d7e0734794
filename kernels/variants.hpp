// The legitimate variants: correct attention implementations that round at other points than the
// tiled kernel, as users' kernels do (PyTorch's eager sdpa, a kernel that keeps scores in bf16, an
// exp2 online softmax, other tile sizes, a split-KV combine). `calibrate` runs each next to the
// tiled kernel so that the default gates are shown to pass all of them (docs/calibration.md), and
// the stand-in candidate runs them as external kernels (`attn_diff_candidate variant:<name>`).
// One table, read by calibrate, the candidate and the tests.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kernels/tiled.hpp"
#include "src/suite/problem.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

/// A variant's kernel: the naive reference's signature, plus the case's tiles (the tiled variants
/// ignore them or use their own). Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> out:
/// [B][Sq][H][D], rounded to the recipe's output dtype.
using VariantKernel = std::function<void(const Problem& p, const Inputs& in, const Recipe& recipe,
                                         const TileSizes& case_tiles, std::span<float> out, int threads)>;

struct VariantInfo {
  std::string name;
  std::string description;  // one line: where it rounds differently from the tiled kernel
  // What it cannot honour ("" = every recipe): e.g. "int8" for a variant that needs float scores.
  // Checked by variant_unsupported().
  std::vector<std::string> unsupported_recipes;
  std::string unsupported_why;
  VariantKernel run;
};

const std::vector<VariantInfo>& variants();
const VariantInfo* find_variant(const std::string& name);
std::vector<std::string> variant_names();

/// Why the variant cannot run a case with this recipe, or "" when it can.
std::string variant_unsupported(const VariantInfo& v, const Recipe& recipe);

/// Keys per split of the split_kv variant (flash-decoding's chunk).
inline constexpr std::int64_t kSplitKvChunk = 64;

}  // namespace attn
