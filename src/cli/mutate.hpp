// `attn-diff mutate`: every mutant against every case, the kill matrix, the mutation score, and
// why each survivor survived (the engine: src/tools/mutate.hpp; this file reads the options, draws the
// matrix and picks the exit code). `attn-diff list-mutants` prints the mutant table.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/tools/mutate.hpp"  // the engine: kill_matrix(), mutant_outcomes(), mutation_score(), mutate_to_json()

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

}  // namespace attn
