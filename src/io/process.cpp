#include "src/io/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "src/base/diagnostic.hpp"
#include "src/base/interrupt.hpp"
#include "src/io/process_internal.hpp"

extern char** environ;

namespace attn {

namespace process_detail {

namespace {
constexpr std::size_t kMaxLine = 400;  // characters kept of one line
}  // namespace

bool child_ended(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void read_available(int fd, std::string* buf, bool* eof, std::size_t keep) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf->append(chunk, std::size_t(n));
      if (buf->size() > 2 * keep) buf->erase(0, buf->size() - keep);
      continue;
    }
    if (n == 0) *eof = true;
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN, EOF or an error: nothing more for now
  }
}

std::vector<std::string> last_lines(const std::string& text, std::size_t n) {
  std::vector<std::string> lines;
  std::size_t end = text.size();
  while (end > 0 && lines.size() < n) {
    const std::size_t start = text.rfind('\n', end - 1);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    // The output is the command's, not ours: it may not be UTF-8 and may hold terminal escapes.
    // Both would reach the terminal and the reports (a JSON report must be UTF-8).
    if (line.size() > kMaxLine) line = printable(utf8_prefix(line, kMaxLine)) + "...";
    else line = printable(line);
    if (!line.empty()) lines.push_back(std::move(line));
    if (start == std::string::npos) break;
    end = start;
  }
  return {lines.rbegin(), lines.rend()};
}

std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const auto& [key, _] : env) overridden = overridden || entry.starts_with(key + "=");
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  return env_strings;
}

pid_t fork_shell(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env, int in,
                 int out, int err, std::string* error) {
  std::vector<std::string> env_strings = child_environment(env);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    if (in >= 0) ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv, envp.data());
    const char msg[] = "attn-diff: cannot execute /bin/sh\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists whichever process runs first
  return pid;
}

}  // namespace process_detail

using namespace process_detail;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kKeepBytes = 64 * 1024;  // output kept while the command runs

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

std::string CommandResult::describe(double timeout_s) const {
  if (!started) return "could not be started: " + start_error;
  if (timed_out)
    return fmt::format("did not finish within {} s and was killed with its process group", timeout_s);
  if (interrupted)
    return fmt::format("was stopped by attn-diff's signal {} ({}) and killed with its process group", interrupted,
                       ::strsignal(interrupted));
  if (signal) return fmt::format("was killed by signal {} ({})", signal, ::strsignal(signal));
  // The shell reports a command killed by signal N as status 128 + N.
  if (exit_code > 128 && exit_code < 128 + 65)
    return fmt::format("exited with status {} (the command it ran was killed by signal {}: {})", exit_code,
                       exit_code - 128, ::strsignal(exit_code - 128));
  return fmt::format("exited with status {}", exit_code);
}

namespace {

struct Child {
  pid_t pid = -1;
  int out = -1;  // the read end of the pipe holding its stdout and stderr, non-blocking
  Clock::time_point start;  // just before the fork
};

// Starts `/bin/sh -c command` in its own process group, stdin from /dev/null, stdout and stderr
// into one pipe. nullopt, with the reason in `error`, when it cannot be started.
std::optional<Child> spawn(const std::string& command, const CommandOptions& opt, std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const auto start = Clock::now();
  const pid_t pid = fork_shell(command, opt.env, devnull, fds[1], fds[1], error);
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    if (devnull >= 0) ::close(devnull);
    return std::nullopt;
  }
  ::close(fds[1]);
  if (devnull >= 0) ::close(devnull);
  const int fd = fds[0];
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return Child{.pid = pid, .out = fd, .start = start};
}

// Reads the child's output until it ends, or until the timeout or a stop signal, which give its
// group SIGTERM and, after the grace period, SIGKILL (r->timed_out, r->interrupted). Then kills
// what is left of the group, reaps the child, drains and closes the pipe, and sets r->seconds.
// Returns the child's wait status; its output is in `output`.
int wait_with_timeout(const Child& child, const CommandOptions& opt, CommandResult* r, std::string* output) {
  const pid_t pid = child.pid;
  const int fd = child.out;
  const auto start = child.start;
  bool eof = false;
  auto wait_a_little = [&](int ms) {
    if (eof) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 5)));
      return;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) > 0) read_available(fd, output, &eof, kKeepBytes);
  };
  CommandGroup registered(pid);  // a second Ctrl-C kills the group from the signal handler
  const double limit = opt.timeout_s > 0 ? std::min(opt.timeout_s, kMaxTimeoutSeconds) : 0;
  for (;;) {
    if (child_ended(pid)) break;
    // A stop signal ends the command as the timeout does: it may not hold attn-diff for --timeout.
    const bool stop = interrupted();
    if (stop || (limit > 0 && since(start) >= limit)) {
      if (stop) r->interrupted = interrupt_signal();
      else r->timed_out = true;
      ::kill(-pid, SIGTERM);
      const auto term = Clock::now();
      while (!child_ended(pid) && since(term) < opt.kill_grace_s && !g_quit_now.load()) wait_a_little(20);
      break;
    }
    int ms = 50;  // also how soon a signal is noticed
    if (limit > 0) ms = int(std::clamp((limit - since(start)) * 1000 + 1, 1.0, 50.0));
    wait_a_little(ms);
  }
  // The shell has ended (or is being killed): nothing of its group may outlive the case.
  ::kill(-pid, SIGKILL);
  registered.release();  // before the reap, after which the pid may be reused
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r->seconds = since(start);
  // What the command wrote before it ended is in the pipe (or held open by a process we just killed).
  for (int spins = 0; !eof && spins < 50; ++spins) wait_a_little(10);
  ::close(fd);
  return status;
}

}  // namespace

CommandResult run_shell_command(const std::string& command, const CommandOptions& opt) {
  CommandResult r;
  const std::optional<Child> child = spawn(command, opt, &r.start_error);
  if (!child) return r;
  r.started = true;

  std::string output;
  const int status = wait_with_timeout(*child, opt, &r, &output);
  if (!r.timed_out && !r.interrupted) {
    if (WIFEXITED(status)) {
      r.exited = true;
      r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      r.signal = WTERMSIG(status);
    }
  }
  r.tail = last_lines(output, opt.tail_lines);
  return r;
}

std::string timeout_problem(double seconds) {
  if (!(seconds > 0) || !(seconds <= kMaxTimeoutSeconds))  // NaN fails both
    return fmt::format("must be a number of seconds > 0 and at most {:g} (a week), got {}", kMaxTimeoutSeconds,
                       seconds);
  return "";
}

}  // namespace attn
