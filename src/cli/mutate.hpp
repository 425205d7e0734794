// `attn-diff mutate`: every mutant against every case, the kill matrix, the mutation score, and
// why each survivor survived. `attn-diff list-mutants` prints the mutant table.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "src/judge/runner.hpp"

namespace attn {

struct MutateOptions {
  std::vector<std::string> configs;
  std::vector<std::string> cases;    // globs
  std::vector<std::string> mutants;  // names; empty = all
  int threads = 0;
  std::string json;
  std::string max_memory = "8G";
  bool quiet = false;
  bool no_color = false;
};

void setup_mutate(CLI::App& app, MutateOptions& opt);
int run_mutate(const MutateOptions& opt);

void setup_list_mutants(CLI::App& app);
int run_list_mutants();

/// One mutant's outcome over a set of cases.
struct MutantOutcome {
  std::string name;
  std::string status;  // killed, survived, unsupported
  std::vector<std::string> killed_by;
  std::string reason;  // for survivors: the coverage no case had, or that the bug never showed
};

/// The mutate JSON of SPEC §6: {"score", "mutants": [{"name", "status", "killed_by"}]} plus extras.
nlohmann::json mutate_to_json(const std::vector<MutantOutcome>& outcomes, double score,
                              const std::vector<std::pair<std::string, int>>& coverage_totals, int cases);

}  // namespace attn
