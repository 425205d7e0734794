// Running a shell command the way attn-diff runs a candidate kernel: in its own process group, with
// a timeout that kills everything it started, its last lines of output kept, and a stop signal
// (src/base/interrupt.hpp) ending it like the timeout.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

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
/// the case. A stop signal (src/base/interrupt.hpp) is noticed within 50 ms and ends the command the
/// same way as the timeout (a second signal skips the grace period); `interrupted` says so.
CommandResult run_shell_command(const std::string& command, const CommandOptions& opt);

}  // namespace attn
