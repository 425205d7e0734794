// The part of `attn-diff run` that judges an external kernel (--candidate-cmd, --timeout,
// --keep-temp, --layout, --bf16-bits) and diagnoses failures (--diagnose, --no-diagnose). Kept
// out of run.cpp so that file stays about running a suite.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "src/cli/run.hpp"
#include "src/io/layout.hpp"
#include "src/judge/runner.hpp"

namespace attn {

void setup_run_external(CLI::App& app, RunCommandOptions& opt);


/// False after printing why, when a --candidate-cmd that was given cannot be run (empty, or a
/// placeholder inside quotes: candidate_command_problem()); the caller exits 2.
bool check_candidate_cmd(const std::string& command);

struct RunExternal {
  Layout layout = Layout::bshd;  // of the command's output; diagnosis reasons relative to it
  bool diagnose = false;         // diagnose failing cases
  // With --candidate-cmd: makes one more candidate with its own state, for each --candidate-jobs job.
  std::function<Candidate()> make_candidate;
};

/// Checks these options and, with --candidate-cmd, makes *cand the external command. False after
/// printing the problem when the options are unusable (an unknown layout, --mutant with --candidate-cmd,
/// a --candidate-cmd that check_candidate_cmd() refuses).
bool apply_run_external(const RunCommandOptions& opt, bool has_mutant, Candidate* cand, RunExternal* out);

}  // namespace attn
