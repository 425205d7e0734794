// The numeric range a case must stay inside for its recipe to compute it (SPEC §4): checked when a
// suite is loaded, so that a case the correct kernel cannot get right is refused with the reason
// instead of failing with no hint that the configuration is the cause.
//   - inputs and sinks within the input dtype's largest finite value;
//   - scores within float32: scale · head_dim · max|q| · max|k| (and the dot product before the
//     scale) at most 3.4e38, max|x| the generator's bound (|mean| + 8.66·std for normal draws);
//   - a finite mask_value negative in float32 and so far below every possible score that exp gives
//     its keys exactly 0, as the reference (which excludes masked keys) does;
//   - inputs not so small that the recipe stores them as subnormals or 0 (per-tensor scaled
//     formats: a per-tensor scale that is no normal float32).
#pragma once

#include <string>
#include <vector>

#include "src/suite/config.hpp"

namespace attn {

struct NumericIssue {
  std::string message;  // names the key in quotes, as config diagnostics do
  std::string note;     // the bound and where it comes from
};

/// Every numeric-range problem of a fully parsed case (empty: the case is representable).
std::vector<NumericIssue> check_numeric_limits(const CaseSpec& c);

/// The largest |value| a distribution of rng.hpp can draw.
double max_draw(const Distribution& d);

/// The magnitude most draws of a distribution have: max(|mean|, std) for normal and outlier draws,
/// max(|low|, |high|) for uniform and integers, |value| for constant.
double typical_magnitude(const Distribution& d);

/// The bound on |score| of a case in the units the kernel's exp sees (·log2 e with exp2).
double score_bound(const CaseSpec& c);

}  // namespace attn
