// The mutation engine behind `attn-diff mutate`: every mutant (kernels/mutants.hpp) against every
// case, the kill matrix, the mutation score, and why each survivor survived. It prints nothing:
// src/cli/mutate.cpp draws the matrix and picks the exit code.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/mutants.hpp"
#include "src/suite/config.hpp"

namespace attn {

/// Which mutant each case kills.
struct KillMatrix {
  std::vector<const MutantInfo*> mutants;  // the rows
  std::vector<const CaseSpec*> cases;      // the columns
  // status[m][c]: 'K' killed (the case does not pass), '.' survived, 'u' unsupported.
  std::vector<std::string> status;
  std::map<std::string, int> coverage;  // cases exercising each kernel path (src/judge/coverage.hpp); absent = none
  double seconds = 0.0;
};

/// Judges every mutant on every case; each case is prepared once. `on_case(i)` is called before
/// case i is prepared.
KillMatrix kill_matrix(std::vector<const MutantInfo*> mutants, std::vector<const CaseSpec*> cases, int threads,
                       const std::function<void(std::size_t case_index)>& on_case = {});

/// One mutant's outcome over a set of cases.
struct MutantOutcome {
  std::string name;
  std::string status;  // killed, survived, unsupported
  std::vector<std::string> killed_by;
  std::string reason;  // for survivors: the coverage no case had, or that the bug never showed
};

/// Why a mutant no case killed survived: the coverage paths it needs that no case exercises (with
/// their descriptions), else that its error stayed within the gates.
std::string survivor_reason(const MutantInfo& m, const std::map<std::string, int>& coverage);

/// One outcome per row of the matrix: killed (by the cases listed), unsupported (every case is
/// unsupported), else survived, with its survivor_reason().
std::vector<MutantOutcome> mutant_outcomes(const KillMatrix& matrix);

struct MutationScore {
  int killed = 0;
  int supported = 0;   // every mutant but the unsupported ones
  double score = 0.0;  // killed / supported; 0 when no mutant is supported
};
MutationScore mutation_score(const std::vector<MutantOutcome>& outcomes);

/// The cases exercising each coverage path, in coverage_paths() order (0 for a path no case has).
std::vector<std::pair<std::string, int>> coverage_totals(const KillMatrix& matrix);

/// The mutate JSON of SPEC §6: {"score", "mutants": [{"name", "status", "killed_by"}]} plus extras.
nlohmann::json mutate_to_json(const std::vector<MutantOutcome>& outcomes, double score,
                              const std::vector<std::pair<std::string, int>>& coverage_totals, int cases);

}  // namespace attn
