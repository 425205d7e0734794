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

/// The longest --timeout accepted: a week, longer than any CI job; a longer, infinite or NaN
/// timeout is refused rather than taken to mean "no limit".
constexpr double kMaxTimeoutSeconds = 7 * 24 * 3600;

/// Why `seconds` cannot be a --timeout ("" when it can): it must be a number > 0 and at most
/// kMaxTimeoutSeconds. The one check of the option, for every command that takes it.
std::string timeout_problem(double seconds);

struct CommandOptions {
  double timeout_s = 0;  // 0 (or anything not > 0): no limit; larger than kMaxTimeoutSeconds counts as that
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
  int interrupted = 0;      // the signal (SIGINT, SIGTERM) that made us kill it with its group, 0 if none
  double seconds = 0.0;
  std::vector<std::string> tail;  // its last lines of output, stdout and stderr together, made printable()

  bool ok() const { return started && exited && exit_code == 0; }
  /// "exited with status 1", "was killed by signal 11 (Segmentation fault)", "timed out after 2 s ...".
  std::string describe(double timeout_s) const;
};

/// Runs `/bin/sh -c command` in a new process group with stdin from /dev/null and stdout and stderr
/// captured together. At the timeout the group gets SIGTERM, then SIGKILL after the grace period.
/// When the shell ends, whatever it left running in its group is killed too, so nothing outlives
/// the case. A stop signal (src/interrupt.hpp) is noticed within 50 ms and ends the command the
/// same way as the timeout (a second signal skips the grace period); `interrupted` says so.
CommandResult run_shell_command(const std::string& command, const CommandOptions& opt);

/// Why `command` cannot be a --candidate-cmd, "" when it can. It must not be empty or blank (an
/// unset CI variable would otherwise judge nothing), and each placeholder ({inputs}, {out},
/// {case}) must stand where the shell reads it unquoted: not inside '...' or "...", not after a
/// backslash or a '$', not in a comment, a here-document, `...`, $(...) or ${...}. There the
/// single quotes that expand_command() puts around a value would not protect it, and a case
/// name such as $(rm -rf ~) would run. The message says to write the placeholder unquoted or to
/// use the $ATTN_DIFF_* variables.
std::string candidate_command_problem(const std::string& command);

/// Replaces each "{key}" of `values` in `command`. A value holding characters a shell would
/// interpret is single-quoted; plain paths are inserted as they are. False, with the reason in
/// *err, when candidate_command_problem() refuses the command.
bool expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values,
                    std::string* out, std::string* err);

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
/// ends with the command's last lines of output. A stop signal during a case kills the command's
/// process group, removes the case's temporary directory and throws Interrupted.
Candidate external_candidate(const ExternalOptions& opt);

}  // namespace attn
