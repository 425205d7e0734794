// A long-lived child process spoken to in lines (the --candidate-worker of SPEC §13): `/bin/sh -c
// CMD` in its own process group, requests on its stdin, replies on its stdout, its stderr kept as
// its log. The group is registered with CommandGroup (src/base/interrupt.hpp) for the worker's
// whole life, so a second Ctrl-C kills it from the signal handler; kill() and shutdown() end the
// whole group and reap the shell, and the destructor kills what is still running: nothing the
// worker started outlives its WorkerProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "src/base/interrupt.hpp"
#include "src/io/process.hpp"

namespace attn {

class WorkerProcess {
 public:
  using Clock = std::chrono::steady_clock;

  WorkerProcess() = default;
  ~WorkerProcess();  // kill(): SIGKILL to the group, then the reap
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  /// Starts `/bin/sh -c command` with `env` set on top of attn-diff's environment. False, with the
  /// reason in *err, when it cannot be started. Only one process at a time: kill() or shutdown() first.
  bool start(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env,
             std::string* err);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  enum class Got {
    line,         // one line (without its '\n') in *line
    timeout,      // the deadline passed first
    ended,        // the worker closed its stdout or exited; describe_end() says how
    interrupted,  // a stop signal (src/base/interrupt.hpp) was noticed
    too_long,     // a line longer than kMaxLineBytes: not a reply
  };
  static constexpr std::size_t kMaxLineBytes = 1 << 20;

  /// Writes `line` and a '\n' to the worker's stdin. False when the worker has closed it or the
  /// deadline passed (the worker does not read); stderr is drained meanwhile.
  bool write_line(const std::string& line, Clock::time_point deadline);
  /// Reads one line of the worker's stdout, draining its stderr meanwhile; checks the stop flag
  /// every 50 ms at most.
  Got read_line(Clock::time_point deadline, std::string* line);

  /// The end of what the worker has written to stderr so far (read first, so that lines it logged
  /// between two requests are not counted to the next), as a position to pass to stderr_lines().
  std::size_t stderr_mark() {
    if (running()) drain(0);
    return err_total_;
  }
  /// Its last `n` lines of stderr written since `mark` (printable(), cut at 400 bytes).
  std::vector<std::string> stderr_lines(std::size_t mark, std::size_t n) const;

  /// How the worker ended, as CommandResult::describe() words it ("exited with status 1", "was
  /// killed by signal 11 (...)"); "closed its stdout" when it is still running. Reaps nothing.
  std::string describe_end() const;

  /// SIGKILL to the whole group, then the reap. The stderr buffer is kept (stderr_lines() still works).
  void kill();
  /// The orderly end: writes `goodbye` (a line, may be empty), closes stdin, waits up to `grace` for
  /// the worker to exit, then SIGTERM to the group, `kill_grace` more, then SIGKILL and the reap.
  void shutdown(const std::string& goodbye, double grace_s, double kill_grace_s);

 private:
  void drain(int timeout_ms);  // polls stdout and stderr, appends what is there
  void close_fds();
  void reap();

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool out_eof_ = false, err_eof_ = false;
  std::string out_buf_;        // stdout read but not yet returned as a line
  std::string err_buf_;        // the last bytes of stderr
  std::size_t err_total_ = 0;  // bytes of stderr ever read
  std::unique_ptr<CommandGroup> group_;
};

}  // namespace attn
