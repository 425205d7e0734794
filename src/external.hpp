// External kernels as candidates (SPEC §6 `--candidate-cmd`): per case, the inputs are dumped to a
// temporary directory, a shell command runs the kernel on them and writes {out}, and the output is
// read back and judged like the built-in kernel. The command runs in its own process group, so a
// timeout kills everything it started, not just the shell.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "src/candidate_file.hpp"
#include "src/runner.hpp"

namespace attn {

struct CommandOptions {
  double timeout_s = 0;  // 0: no limit
  double kill_grace_s = 1.0;  // between SIGTERM and SIGKILL at the timeout
  std::vector<std::pair<std::string, std::string>> env;  // set in the command's environment
  std::size_t tail_lines = 20;  // lines of output kept for the report
};

struct CommandResult {
  bool started = false;
  std::string start_error;  // why it could not be started
  bool exited = false;      // ended by exit(); exit_code is valid
  int exit_code = -1;
  int signal = 0;           // the signal that ended it, when it was not our timeout
  bool timed_out = false;   // killed by us, with its whole process group, at the timeout
  double seconds = 0.0;
  std::vector<std::string> tail;  // its last lines of output, stdout and stderr together

  bool ok() const { return started && exited && exit_code == 0; }
  /// "exited with status 1", "was killed by signal 11 (Segmentation fault)", "timed out after 2 s ...".
  std::string describe(double timeout_s) const;
};

/// Runs `/bin/sh -c command` in a new process group with stdin from /dev/null and stdout and stderr
/// captured together. At the timeout the group gets SIGTERM, then SIGKILL after the grace period.
/// When the shell ends, whatever it left running in its group is killed too, so nothing outlives
/// the case.
CommandResult run_shell_command(const std::string& command, const CommandOptions& opt);

/// Replaces each "{key}" of `values` in `command`. A value holding characters a shell would
/// interpret is single-quoted; plain paths are inserted as they are.
std::string expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values);

struct ExternalOptions {
  std::string command;      // with {inputs}, {out}, {case}
  double timeout_s = 300;   // per case
  bool keep_temp = false;   // leave each case's temporary directory behind (its path is printed)
  CandidateReadOptions read;  // --layout, --bf16-bits for {out}
};

/// The candidate that runs `opt.command` per case. {inputs} is a dump directory holding case.json
/// and q/k/v/sinks.npy (also $ATTN_DIFF_INPUTS), {out} the file to write (.npy or .safetensors
/// content; also $ATTN_DIFF_OUT), {case} the case name (also $ATTN_DIFF_CASE). A command that
/// fails, times out, writes nothing or writes a wrong shape makes the case an error whose message
/// ends with the command's last lines of output.
Candidate external_candidate(const ExternalOptions& opt);

}  // namespace attn
