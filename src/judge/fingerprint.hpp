// The precision fingerprint (docs/precision.md, "Precision fingerprint"): which recipe near the
// case's own reproduces a candidate's output to within a correct kernel's error. The tiled kernel
// runs under recipes one change at a time away from the declared one (each input tensor one format
// narrower, Q in K's format, P in fp16/bf16/e4m3, fp16/bf16 accumulators, exp2, a finite mask, the
// other K/V scale scheme), greedily: the best recipe of a round is widened by one more change in the
// next, while that explains the candidate better. A candidate that matches a recipe narrower than
// the declared one rounds more than the case says: a precision finding, not a logic bug.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "src/judge/runner.hpp"

namespace attn {

/// One recipe the fingerprint tried.
struct PrecisionMatch {
  Recipe recipe;
  std::string name;       // "precision:" + recipe_spec(recipe): the hypothesis name
  std::string change;     // describe_recipe_change(declared, recipe)
  double nmse = 0.0;      // the candidate against this recipe's tiled output, of golden's energy
  double noise_nmse = 0.0;  // this recipe's own rounding: its tiled output against the same with fp32 internals
  double max_abs = 0.0;   // max |candidate - prediction|
  double d = 0.0;         // the distance in units of a correct kernel's error in this recipe (<= 1 explains)
  double score = 0.0;     // 1 / (1 + d), as every diagnosis hypothesis
  bool reproduced = false;  // its rounding reproduced error for error in ggml's order (then nmse is that order's)
  std::string evidence;
};

struct Fingerprint {
  std::string declared;               // recipe_spec of the case's recipe
  std::vector<PrecisionMatch> tried;  // best first: explaining recipes by the least rounding, then by score
  int kernel_runs = 0;                // tiled runs it took
  int per_key_runs = 0;               // runs of the per_key variant (ggml's order) on a few query tokens
  double seconds = 0.0;               // its wall time
  std::string scope;  // what it ran on, in words ("the whole case", "KV heads 0 and 7 of 8 and their query heads, the last 256 of 2048 query tokens")
  bool declared_explains = false;     // the case's own recipe explains the output: nothing else was tried
  /// The best recipe if it explains the candidate (score >= kExplainsScore), else null.
  const PrecisionMatch* match() const;
  /// The match and the explaining recipes the data cannot tell from it (their rounding plus distance
  /// within twice the match's): what diagnosis lists. A noisier recipe that also "explains" is left out.
  std::vector<const PrecisionMatch*> explaining() const;
};

struct FingerprintOptions {
  int max_rounds = 3;        // changes combined at most
  int max_kernel_runs = 64;  // a budget on the tiled runs
  int max_kv_heads = 2;      // larger cases run on this many KV-head groups (first and last)
  std::int64_t max_queries = 256;  // and on their last this many query tokens
};

/// Fingerprints `candidate` (bshd, the case's full output) on the prepared case.
Fingerprint precision_fingerprint(const PreparedCase& p, std::span<const double> candidate, int threads,
                                  const FingerprintOptions& opt = {});

/// The report's "fingerprint" object: {"declared", "declared_explains", "matches" (recipe or null), "change", "nmse",
/// "kernel_runs", "per_key_runs", "seconds", "scope", "tried": [{"recipe", "score", "nmse", "noise_nmse", "evidence"}]}.
nlohmann::json fingerprint_to_json(const Fingerprint& f);

}  // namespace attn
