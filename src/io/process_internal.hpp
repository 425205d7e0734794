// The pieces of running a child process that process.cpp (one command per case) and
// worker_process.cpp (one long-lived worker) share. Internal to src/io: not an interface for
// other layers.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace attn::process_detail {

/// True once the child has ended. It is left a zombie (WNOWAIT) so that its pid, which is also its
/// process group id, cannot be reused before we have killed the rest of the group.
bool child_ended(pid_t pid);

/// Appends what can be read now from the non-blocking `fd` to *buf, keeping about the last `keep`
/// bytes; *eof is set at the end of the stream.
void read_available(int fd, std::string* buf, bool* eof, std::size_t keep);

/// The last `n` non-empty lines of `text`, made printable() (the output is the command's: it may not
/// be UTF-8 and may hold terminal escapes), each cut at 400 bytes on a character boundary.
std::vector<std::string> last_lines(const std::string& text, std::size_t n);

/// attn-diff's environment with `env` set on top, as "KEY=value" strings. Built before fork:
/// between fork and exec only async-signal-safe calls are allowed (we may have threads).
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& env);

/// Forks `/bin/sh -c command` in a new process group of its own (the group id is the returned pid)
/// with `env` set on top of attn-diff's environment, `in` (or nothing when < 0), `out` and `err` as
/// its stdin, stdout and stderr, and SIGPIPE at its default. -1, with the reason in *error, when
/// the fork fails. The descriptors are the caller's to close.
pid_t fork_shell(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env, int in,
                 int out, int err, std::string* error);

}  // namespace attn::process_detail
