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
/// The same for a --candidate-worker (empty or blank: worker_command_problem()).
bool check_candidate_worker(const std::string& command);
/// False after printing why, when more than one of --mutant, --candidate-cmd, --candidate-worker was given.
bool check_one_candidate(bool mutant, bool cmd, bool worker);
/// Says on stderr where --keep-temp kept a case's temporary directory.
void print_kept(const std::string& name, const std::string& dir);

struct RunExternal {
  Layout layout = Layout::bshd;  // of the command's output; diagnosis reasons relative to it
  bool diagnose = false;         // diagnose failing cases
  // With --candidate-cmd or --candidate-worker: makes one more candidate with its own state (its own
  // process or worker), for each --candidate-jobs job.
  std::function<Candidate()> make_candidate;
};

/// Checks these options and, with --candidate-cmd or --candidate-worker, makes *cand the external
/// command or the worker. False after
/// printing the problem when the options are unusable (an unknown layout, more than one candidate,
/// a command that check_candidate_cmd() or check_candidate_worker() refuses).
bool apply_run_external(const RunCommandOptions& opt, bool has_mutant, Candidate* cand, RunExternal* out);

}  // namespace attn
