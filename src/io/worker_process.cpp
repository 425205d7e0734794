#include "src/io/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "src/io/process_internal.hpp"

namespace attn {

using namespace process_detail;

namespace {

constexpr std::size_t kKeepStderr = 64 * 1024;  // stderr kept for the last lines of a request

double seconds_to(WorkerProcess::Clock::time_point t) {
  return std::chrono::duration<double>(t - WorkerProcess::Clock::now()).count();
}

// Up to 50 ms, less when the deadline is closer: how soon a stop signal is noticed.
int poll_ms(WorkerProcess::Clock::time_point deadline) {
  return int(std::clamp(seconds_to(deadline) * 1000 + 1, 0.0, 50.0));
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

WorkerProcess::~WorkerProcess() { kill(); }

bool WorkerProcess::start(const std::string& command, const std::vector<std::pair<std::string, std::string>>& env,
                          std::string* err) {
  kill();
  out_buf_.clear();
  err_buf_.clear();
  err_total_ = 0;
  out_eof_ = err_eof_ = false;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
  const auto close_all = [&] {
    for (int fd : {in[0], in[1], out[0], out[1], errp[0], errp[1]})
      if (fd >= 0) ::close(fd);
  };
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
    *err = std::strerror(errno);
    close_all();
    return false;
  }
  const pid_t pid = fork_shell(command, env, in[0], out[1], errp[1], err);
  if (pid < 0) {
    close_all();
    return false;
  }
  pid_ = pid;
  group_ = std::make_unique<CommandGroup>(pid);  // a second Ctrl-C kills the group from the handler
  ::close(in[0]);
  ::close(out[1]);
  ::close(errp[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = errp[0];
  for (int fd : {in_, out_, err_}) set_nonblocking(fd);
  return true;
}

void WorkerProcess::drain(int timeout_ms) {
  pollfd p[2];
  nfds_t n = 0;
  if (out_ >= 0 && !out_eof_) p[n++] = {out_, POLLIN, 0};
  if (err_ >= 0 && !err_eof_) p[n++] = {err_, POLLIN, 0};
  if (n == 0) {
    if (timeout_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 5)));
    return;
  }
  if (::poll(p, n, timeout_ms) <= 0) return;
  for (nfds_t i = 0; i < n; ++i) {
    if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (p[i].fd == out_) {
      // A line longer than kMaxLineBytes is refused by read_line(), so no more than that is kept.
      read_available(out_, &out_buf_, &out_eof_, 2 * kMaxLineBytes);
    } else {
      std::string chunk;
      read_available(err_, &chunk, &err_eof_, kKeepStderr);
      err_total_ += chunk.size();
      err_buf_ += chunk;
      if (err_buf_.size() > 2 * kKeepStderr) err_buf_.erase(0, err_buf_.size() - kKeepStderr);
    }
  }
}

bool WorkerProcess::write_line(const std::string& line, Clock::time_point deadline) {
  if (in_ < 0) return false;
  const std::string text = line + "\n";
  // A worker that has exited makes write() fail with EPIPE and raise SIGPIPE; the signal is blocked
  // here and the one this write raised is taken back, so a library caller is not killed by it.
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  std::size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    const ssize_t n = ::write(in_, text.data() + done, text.size() - done);
    if (n > 0) {
      done += std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (seconds_to(deadline) <= 0 || interrupted()) {
        ok = false;
        break;
      }
      pollfd p{in_, POLLOUT, 0};
      ::poll(&p, 1, poll_ms(deadline));
      drain(0);  // a worker blocked on writing its stderr would never read its stdin
      continue;
    }
    ok = false;  // EPIPE: the worker closed its stdin
    break;
  }
  if (!ok && !was_pending) {
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      const timespec zero{0, 0};
      ::sigtimedwait(&pipe_set, nullptr, &zero);
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return ok;
}

WorkerProcess::Got WorkerProcess::read_line(Clock::time_point deadline, std::string* line) {
  for (;;) {
    if (const std::size_t nl = out_buf_.find('\n'); nl != std::string::npos) {
      if (nl > kMaxLineBytes) return Got::too_long;
      *line = out_buf_.substr(0, nl);
      out_buf_.erase(0, nl + 1);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return Got::line;
    }
    if (out_buf_.size() > kMaxLineBytes) return Got::too_long;
    if (out_ < 0 || out_eof_) return Got::ended;
    if (interrupted()) return Got::interrupted;
    if (seconds_to(deadline) <= 0) return Got::timeout;
    if (child_ended(pid_)) {
      // What it wrote before it ended is still in the pipe (a child it left may hold the pipe open).
      for (int spins = 0; spins < 10 && !out_eof_; ++spins) drain(5);
      if (out_buf_.find('\n') != std::string::npos) continue;
      return Got::ended;
    }
    drain(poll_ms(deadline));
  }
}

std::vector<std::string> WorkerProcess::stderr_lines(std::size_t mark, std::size_t n) const {
  const std::size_t buf_start = err_total_ - err_buf_.size();
  const std::size_t from = mark > buf_start ? mark - buf_start : 0;
  return last_lines(from < err_buf_.size() ? err_buf_.substr(from) : std::string(), n);
}

std::string WorkerProcess::describe_end() const {
  if (pid_ <= 0) return "is not running";
  siginfo_t info{};
  if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_)
    return "closed its stdout";
  CommandResult r{.started = true};
  if (info.si_code == CLD_EXITED) {
    r.exited = true;
    r.exit_code = info.si_status;
  } else {
    r.signal = info.si_status;
  }
  return r.describe(0);
}

void WorkerProcess::close_fds() {
  for (int* fd : {&in_, &out_, &err_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void WorkerProcess::reap() {
  ::kill(-pid_, SIGKILL);  // nothing of its group may outlive the worker
  group_.reset();          // before the reap, after which the pid may be reused
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  // Its last words on stderr are still in the pipe.
  if (in_ >= 0) {
    ::close(in_);
    in_ = -1;
  }
  for (int spins = 0; spins < 20 && !err_eof_ && err_ >= 0; ++spins) drain(5);
  close_fds();
}

void WorkerProcess::kill() {
  if (pid_ > 0) reap();
  close_fds();
}

void WorkerProcess::shutdown(const std::string& goodbye, double grace_s, double kill_grace_s) {
  if (pid_ <= 0) return close_fds();
  const auto now = [] { return Clock::now(); };
  const auto after = [&](double s) { return now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  const auto grace_end = after(grace_s);
  if (!goodbye.empty() && !child_ended(pid_)) write_line(goodbye, grace_end);
  if (in_ >= 0) {
    ::close(in_);
    in_ = -1;
  }
  while (!child_ended(pid_) && seconds_to(grace_end) > 0 && !g_quit_now.load()) drain(20);
  if (!child_ended(pid_)) {
    ::kill(-pid_, SIGTERM);
    const auto term_end = after(kill_grace_s);
    while (!child_ended(pid_) && seconds_to(term_end) > 0 && !g_quit_now.load()) drain(20);
  }
  reap();
}

}  // namespace attn
