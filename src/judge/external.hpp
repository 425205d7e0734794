// External kernels as candidates (SPEC §6 `--candidate-cmd`): per case, the inputs are dumped to a
// temporary directory, a shell command runs the kernel on them and writes {out}, and the output is
// read back and judged like the built-in kernel. The command runs in its own process group, so a
// timeout kills everything it started, not just the shell.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "src/io/candidate_file.hpp"
#include "src/io/process.hpp"
#include "src/judge/runner.hpp"

namespace attn {

/// Why `command` cannot be a --candidate-cmd, "" when it can. It must not be empty or blank (an
/// unset CI variable would otherwise judge nothing), and each placeholder ({inputs}, {out},
/// {case}) must stand where the shell reads it unquoted: not inside '...' or "...", not after a
/// backslash or a '$', not in a comment, a here-document, `...`, $(...) or ${...}. There the
/// single quotes that expand_command() puts around a value would not protect it, and a case
/// name such as $(rm -rf ~) would run. The message says to write the placeholder unquoted or to
/// use the $ATTN_DIFF_* variables.
std::string candidate_command_problem(const std::string& command);

/// Why `command`, given as `option`, cannot be run when it is empty or blank ("" when it is not):
/// an unset CI variable would otherwise judge nothing. `what` says what attn-diff does with it
/// ("runs per case"), `example` is a command to show.
std::string blank_command_problem(const std::string& command, const std::string& option, const std::string& what,
                                  const std::string& example);

/// Replaces each "{key}" of `values` in `command`. A value holding characters a shell would
/// interpret is single-quoted; plain paths are inserted as they are. False, with the reason in
/// *err, when candidate_command_problem() refuses the command.
bool expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values,
                    std::string* out, std::string* err);

struct ExternalOptions {
  std::string command;      // with {inputs}, {out}, {case}
  double timeout_s = 300;   // per case
  bool keep_temp = false;   // leave each case's temporary directory behind
  // With keep_temp: told each kept directory that no error message names (a case that passed, or
  // one stopped by a signal), at once, so the caller can say where it is.
  std::function<void(const std::string& case_name, const std::string& dir)> on_kept;
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
