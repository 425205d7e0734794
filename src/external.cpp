#include "src/external.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "src/dumpdir.hpp"

extern char** environ;

namespace attn {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kKeepBytes = 64 * 1024;  // output kept while the command runs
constexpr std::size_t kMaxLine = 400;          // characters kept of one line

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// True once the child has ended. It is left a zombie (WNOWAIT) so that its pid, which is also its
// process group id, cannot be reused before we have killed the rest of the group.
bool child_ended(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void read_available(int fd, std::string* buf, bool* eof) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf->append(chunk, std::size_t(n));
      if (buf->size() > 2 * kKeepBytes) buf->erase(0, buf->size() - kKeepBytes);
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
    if (line.size() > kMaxLine) line = line.substr(0, kMaxLine) + "...";
    if (!line.empty()) lines.push_back(std::move(line));
    if (start == std::string::npos) break;
    end = start;
  }
  return {lines.rbegin(), lines.rend()};
}

bool shell_safe(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("_./-=:+,@%", ch))) return false;
  return true;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string with_tail(std::string message, const CommandResult& r, bool say_if_silent = true) {
  if (r.tail.empty()) return say_if_silent ? message + " (no output)" : message;
  message += "; its last output:";
  for (const std::string& line : r.tail) message += "\n    | " + line;
  return message;
}

}  // namespace

std::string CommandResult::describe(double timeout_s) const {
  if (!started) return "could not be started: " + start_error;
  if (timed_out)
    return fmt::format("did not finish within {} s and was killed with its process group", timeout_s);
  if (signal) return fmt::format("was killed by signal {} ({})", signal, ::strsignal(signal));
  // The shell reports a command killed by signal N as status 128 + N.
  if (exit_code > 128 && exit_code < 128 + 65)
    return fmt::format("exited with status {} (the command it ran was killed by signal {}: {})", exit_code,
                       exit_code - 128, ::strsignal(exit_code - 128));
  return fmt::format("exited with status {}", exit_code);
}

CommandResult run_shell_command(const std::string& command, const CommandOptions& opt) {
  CommandResult r;
  // Everything the child needs is built before fork: between fork and exec only async-signal-safe
  // calls are allowed (we may have threads).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const auto& [key, _] : opt.env) overridden = overridden || entry.starts_with(key + "=");
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : opt.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    r.start_error = std::strerror(errno);
    return r;
  }
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    r.start_error = std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    if (devnull >= 0) ::close(devnull);
    return r;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(argv[0], argv, envp.data());
    const char msg[] = "attn-diff: cannot execute /bin/sh\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so the group exists whichever process runs first
  ::close(fds[1]);
  if (devnull >= 0) ::close(devnull);
  const int fd = fds[0];
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  r.started = true;

  std::string output;
  bool eof = false;
  auto wait_a_little = [&](int ms) {
    if (eof) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 5)));
      return;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) > 0) read_available(fd, &output, &eof);
  };
  for (;;) {
    if (child_ended(pid)) break;
    if (opt.timeout_s > 0 && since(start) >= opt.timeout_s) {
      r.timed_out = true;
      ::kill(-pid, SIGTERM);
      const auto term = Clock::now();
      while (!child_ended(pid) && since(term) < opt.kill_grace_s) wait_a_little(20);
      break;
    }
    int ms = 50;
    if (opt.timeout_s > 0) ms = std::max(1, std::min(ms, int((opt.timeout_s - since(start)) * 1000) + 1));
    wait_a_little(ms);
  }
  // The shell has ended (or is being killed): nothing of its group may outlive the case.
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.seconds = since(start);
  // What the command wrote before it ended is in the pipe (or held open by a process we just killed).
  for (int spins = 0; !eof && spins < 50; ++spins) wait_a_little(10);
  ::close(fd);
  if (!r.timed_out) {
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

std::string expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  for (std::size_t i = 0; i < command.size();) {
    bool replaced = false;
    for (const auto& [key, value] : values) {
      const std::string token = "{" + key + "}";
      if (command.compare(i, token.size(), token) == 0) {
        out += shell_safe(value) ? value : shell_quote(value);
        i += token.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += command[i++];
  }
  return out;
}

Candidate external_candidate(const ExternalOptions& opt) {
  Candidate c;
  c.kernel = "external";
  c.is_expected = false;
  c.produce = [opt](const CaseSpec& spec, const Inputs& in, std::vector<double>* out, std::string* err) {
    std::string pattern = (fs::temp_directory_path() / "attn-diff-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      *err = fmt::format("cannot create a temporary directory ({})", std::strerror(errno));
      return false;
    }
    const fs::path tmp(pattern);
    const std::string inputs = (tmp / "inputs").string(), out_path = (tmp / "out.npy").string();
    auto finish = [&](bool ok) {
      std::error_code ec;
      if (!opt.keep_temp) fs::remove_all(tmp, ec);
      else if (ok) std::fprintf(stderr, "attn-diff: case '%s': kept %s\n", spec.name.c_str(), tmp.c_str());
      else *err += fmt::format("\n    note: kept {}", tmp.string());
      return ok;
    };
    if (!write_dump({.dir = inputs, .format = DumpFormat::npy}, spec, in, {}, err)) return finish(false);

    const std::vector<std::pair<std::string, std::string>> values = {
        {"inputs", inputs}, {"out", out_path}, {"case", spec.name}};
    const std::string command = expand_command(opt.command, values);
    const CommandResult r = run_shell_command(
        command, {.timeout_s = opt.timeout_s,
                  .env = {{"ATTN_DIFF_INPUTS", inputs}, {"ATTN_DIFF_OUT", out_path}, {"ATTN_DIFF_CASE", spec.name}}});
    if (!r.ok()) {
      *err = with_tail("the candidate command " + r.describe(opt.timeout_s), r);
      return finish(false);
    }
    std::error_code ec;
    if (!fs::exists(out_path, ec)) {
      *err = with_tail(fmt::format("the candidate command exited with status 0 but wrote nothing to {}", out_path), r);
      return finish(false);
    }
    const Shape& s = spec.problem.shape;
    std::string read_err;
    if (!read_candidate(out_path, {s.batch, s.tokens, s.heads, s.head_dim}, opt.read, out, &read_err)) {
      *err = with_tail("the candidate command's output is unusable: " + read_err, r, false);
      return finish(false);
    }
    return finish(true);
  };
  return c;
}

}  // namespace attn
