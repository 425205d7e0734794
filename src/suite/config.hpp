// Loading and validating a suite file (SPEC §4): defaults merged into cases, every key checked,
// impossible shapes refused, and errors that name the file, the case and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/suite/distribution.hpp"
#include "src/suite/gate_spec.hpp"
#include "src/suite/memory_estimate.hpp"  // estimate_memory
#include "src/suite/problem.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

/// The largest value an integer key of a suite file may have (sizes past it cannot be addressed).
inline constexpr std::int64_t kMaxInteger = 9'000'000'000'000'000;
/// The largest seed, in a suite file and on the command line (--seed): 2^53 - 1, the largest
/// integer every JSON reader holds exactly (JavaScript, Python's json with floats, jq read numbers
/// as doubles), so a seed written to case.json or a report reads back as the same seed everywhere.
inline constexpr std::uint64_t kMaxSeed = (std::uint64_t(1) << 53) - 1;

struct SinksSpec {
  enum class Kind { none, constant, list, random };
  Kind kind = Kind::none;
  std::vector<double> values;  // constant: one value; list: one per head
  Distribution dist;           // random
};

/// One fully resolved case: every default applied, every value checked.
struct CaseSpec {
  std::string name;
  Problem problem;  // shape, causal, window, has_sinks, scale
  SinksSpec sinks;
  Recipe recipe;    // exp2 and mask_value applied
  TileSizes tiles;
  std::uint64_t seed = 0;
  Distribution inputs;
  Tolerance tolerance;
  std::vector<GateSpec> gates;
  std::vector<std::string> tags;
  // SPEC §10: also compute and judge the LSE and the gradients of L = sum(O ∘ dO), dO drawn from
  // grad_output (by default the inputs' distribution) and stored in grad_dtype(recipe).
  bool backward = false;
  Distribution grad_output;

  /// The case as a config object with every key explicit; loading it gives this case back.
  nlohmann::json to_json() const;
};

struct Suite {
  std::string file;
  std::string name;
  std::string description;
  std::vector<CaseSpec> cases;
};

struct LoadOptions {
  std::uint64_t max_memory = 8ull << 30;  // bytes; a case estimated above it is refused
  int threads = 1;                        // for the per-thread part of the estimate
  std::optional<std::uint64_t> seed;      // overrides every case's seed
  // Overrides every case's recipe (--precision): a built-in recipe's name. The suite's and the
  // cases' tolerance and gates are dropped with it, so each case runs with that recipe's defaults.
  std::optional<std::string> precision;
};

/// The suite document with every case's "precision" set to `recipe` and the "tolerance" and
/// "gates" of "defaults" and of every case removed: what LoadOptions::precision loads.
nlohmann::json with_precision(nlohmann::json doc, const std::string& recipe);

/// Reads and validates a suite. On failure returns false with every problem found in `diags`.
bool load_suite(const std::string& path, const LoadOptions& opt, Suite* out, Diagnostics* diags);
/// The same from an already parsed document (`file` is only used in messages).
bool parse_suite(const nlohmann::json& doc, const std::string& file, const LoadOptions& opt, Suite* out,
                 Diagnostics* diags);
/// The same from the file's bytes: malformed JSON is a diagnostic at file:line:col. This is what
/// load_suite runs after reading the file, and what tests/fuzz feeds arbitrary bytes to.
bool parse_suite_text(std::string_view text, const std::string& file, const LoadOptions& opt, Suite* out,
                      Diagnostics* diags);

/// The keys a case (or `defaults`) may have, in SPEC order.
const std::vector<std::string>& case_keys();

/// A named tolerance preset (`"tolerance": "torch"` in a config): "torch" is torch.testing's
/// per-dtype default for the recipe's output dtype, "recipe" the recipe's own default.
std::optional<Tolerance> tolerance_preset(const std::string& name, const Recipe& recipe);

}  // namespace attn
