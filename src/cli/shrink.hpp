// `attn-diff shrink`: the smallest case that still fails the same way, written as a config file
// that `attn-diff run` accepts as is, with the sequence of reductions that led to it.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "src/judge/runner.hpp"

namespace attn {

struct ShrinkCommandOptions {
  std::string config;
  std::string case_name;  // the exact name, or a glob that matches exactly one case
  std::string mutant;     // the candidate: this mutant of the tiled kernel
  std::optional<std::string> candidate_cmd;  // or this external command (SPEC §6 placeholders), run per candidate case
  std::optional<std::string> candidate_worker;  // or this worker (SPEC §13), started once for the whole reduction
  double timeout = 300;       // seconds per external command run or worker request
  std::optional<std::string> precision;  // --precision: the case in this recipe
  std::string out;        // write the minimal case's config here ("" = stdout)
  std::string dump;       // write the minimal case's inputs, references and candidate output here
  std::string json;       // write the reduction (original, reason, steps, minimal case) as JSON here
  int threads = 0;        // 0 = one per core
  int max_runs = 2000;
  double max_seconds = 30;
  bool no_diagnose = false;         // keep only the failing gate, not the top diagnose hypothesis
  double max_diagnose_seconds = 5;  // diagnose the original only when that fits in this
  std::string max_memory = "8G";
  bool quiet = false;  // only the summary line on stderr
};

void setup_shrink(CLI::App& app, ShrinkCommandOptions& opt);

/// Shrinks with the candidate named by the options (--mutant).
int run_shrink(const ShrinkCommandOptions& opt);

/// Shrinks with any candidate: everything but choosing the candidate. Another kind of candidate
/// (an external command) only needs a Candidate built from its options and this call.
/// Exit codes are those `run` would give the original case: 1 it fails (and was shrunk), 0 it
/// passes (nothing to shrink), 2 bad usage or config, 3 the candidate errors on it.
int run_shrink_with(const ShrinkCommandOptions& opt, const Candidate& cand);

}  // namespace attn
