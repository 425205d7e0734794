// Running one case: inputs, the golden and naive references, the candidate, metrics, gates and the
// verdict, collected in a CaseResult that every report writer only renders.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/config.hpp"
#include "src/gates.hpp"
#include "src/metrics.hpp"

namespace attn {

/// What is judged. `produce` fills `out` (bshd, float64) or returns false with a message.
struct Candidate {
  std::string kernel = "tiled";  // as written in the report: "tiled", "mutant:<name>", "external"
  bool is_expected = true;       // true when the candidate is the correct tiled kernel itself
  std::function<bool(const CaseSpec&, const Inputs&, std::vector<double>* out, std::string* err)> produce;
};

/// The correct tiled kernel as a candidate.
Candidate tiled_candidate(int threads);

enum class Verdict { pass, fail, error, unsupported };
const char* verdict_name(Verdict v);

struct CaseResult {
  CaseSpec spec;
  std::string kernel;
  Verdict verdict = Verdict::error;
  std::string error;  // why the case is an error or unsupported
  Metrics vs_golden, vs_naive, naive_vs_golden;
  std::optional<Metrics> expected_vs_golden;  // the correct tiled kernel's own error
  std::vector<GateResult> gates;
  std::vector<WorstElement> worst;
  std::vector<std::string> failures;  // one line per reason the case failed
  std::int64_t empty_rows = 0;         // query rows (per batch and head) with no visible key
  double golden_max_abs_value = 0.0;
  double seconds = 0.0;
};

struct RunOptions {
  int threads = 1;
  std::size_t worst = 10;  // worst elements kept per case
};

CaseResult run_case(const CaseSpec& c, const Candidate& cand, const RunOptions& opt);

}  // namespace attn
