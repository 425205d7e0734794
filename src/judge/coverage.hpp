// Tile coverage: which paths of the tiled kernel a case exercises (more than one KV tile, partial
// tiles, skipped tiles, ...), so a suite can show what it never tests and why a mutant survived.
#pragma once

#include <string>
#include <vector>

#include "src/suite/config.hpp"

namespace attn {

struct CoveragePath {
  std::string name;
  std::string description;
};

/// Every path, in report order.
const std::vector<CoveragePath>& coverage_paths();

/// The names of the paths the case exercises. `sink_dominates` looks at up to 8 rows per
/// (batch, head), evenly spaced, to keep the cost far below one golden pass.
std::vector<std::string> compute_coverage(const CaseSpec& c, const Inputs& in);

}  // namespace attn
