// Checks shared by the shrink tests: a shrunk case still fails the way its original did.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>

#include "src/tools/shrink.hpp"

namespace attn::test {

/// The minimal case fails the original's first failing gate, the correct kernel passes it, and
/// (when the reason has one) diagnose ranks the same hypothesis first.
inline void check_same_failure(const ShrinkResult& r, const Candidate& cand, int threads) {
  const CaseSpec& c = r.minimal;
  PreparedCase p = prepare_case(c, threads);
  std::vector<double> out;
  BackwardTensors tensors;
  const CaseResult again = judge(p, cand, {.threads = threads, .keep_candidate = &out, .keep_tensors = &tensors});
  CHECK(again.verdict == Verdict::fail);
  const auto failing = failure_reason(again).failing;
  CHECK(std::find(failing.begin(), failing.end(), r.reason.gate) != failing.end());
  CHECK(reference_passes(p, threads));
  if (!r.reason.hypothesis.empty()) CHECK(top_hypothesis(p, again, out, tensors, threads) == r.reason.hypothesis);
}

}  // namespace attn::test
