// The mutant table: every variant of the tiled kernel with one known bug (SPEC §9), registered once
// with its name, the bug it models, and the cases it cannot run. list-mutants, --mutant dispatch,
// "did you mean", mutate and diagnose all read this table.
#pragma once

#include <string>
#include <vector>

#include "kernels/fault.hpp"
#include "src/suite/config.hpp"

namespace attn {

struct MutantInfo {
  std::string name;
  std::string description;  // one line: the bug it models
  Fault fault;
  // Coverage paths (src/judge/coverage.hpp) a case needs for this bug to be able to show; used to say
  // why a mutant survived a suite.
  std::vector<std::string> needs;
  // The recipe this mutant is restricted to ("" = every recipe); other cases are `unsupported`.
  std::string only_recipe;
  // The bug is in the backward pass (SPEC §10): its forward output is the correct kernel's, and a
  // case without `backward` is `unsupported`.
  bool backward = false;
};

const std::vector<MutantInfo>& mutants();
const MutantInfo* find_mutant(const std::string& name);
std::vector<std::string> mutant_names();
/// "error: unknown mutant 'x' (did you mean 'y'?)" and a note: what the CLI prints and Python raises.
std::string unknown_mutant_message(const std::string& name);

/// Why a mutant cannot run a case with this recipe, or "" when it can.
std::string mutant_unsupported(const MutantInfo& m, const Recipe& recipe);
/// The same for a whole case: a backward mutant also needs a backward case.
std::string mutant_unsupported(const MutantInfo& m, const CaseSpec& c);

}  // namespace attn
