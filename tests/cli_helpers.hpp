// Running the attn-diff binary from a test and capturing what it printed and its exit code.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace attn::test {

struct CliResult {
  int code = -1;
  std::string out;  // stdout and stderr together
};

/// Runs a shell command from the source folder; stdout and stderr together.
inline CliResult run_command(const std::string& command) {
  const std::string cmd = "cd '" + std::string(ATTN_DIFF_SOURCE_DIR) + "' && " + command + " 2>&1";
  CliResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Runs `attn-diff ARGS` from the source folder with NO_COLOR set.
inline CliResult run_cli(const std::string& args) {
  return run_command("NO_COLOR=1 '" + std::string(ATTN_DIFF_BINARY) + "' " + args);
}

/// The whole content of a file ("" when it cannot be read).
#ifdef ATTN_DIFF_CANDIDATE
/// Runs the stand-in candidate (tests/helpers/candidate_main.cpp) with `args`, its output
/// discarded; returns std::system's status (0 when it wrote its output).
inline int run_stand_in(const std::string& args) {
  return std::system(("'" + std::string(ATTN_DIFF_CANDIDATE) + "' " + args + " 2>/dev/null").c_str());
}
#endif

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A JSON file parsed; throws (failing the test) when it is missing or empty.
inline nlohmann::json read_json(const std::string& path) {
  const std::string text = read_text(path);
  if (text.empty()) throw std::runtime_error(path + ": missing or empty, not a JSON report");
  return nlohmann::json::parse(text);
}

/// A JSON report (or any part of one) without the fields that depend on the clock or the machine's
/// load, at every depth: "seconds" and "peak_memory_bytes".
inline nlohmann::json without_timings(nlohmann::json j) {
  if (j.is_object()) {
    for (const char* key : {"seconds", "peak_memory_bytes"}) j.erase(key);
    for (auto& [_, v] : j.items()) v = without_timings(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = without_timings(v);
  }
  return j;
}

/// Starts `attn-diff ARGS...` from the source folder without waiting for it, stdout and stderr into
/// `log`, with `env` added to its environment; -1 when it cannot fork. For tests that signal it.
inline pid_t start_cli(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                       const std::string& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(ATTN_DIFF_SOURCE_DIR) != 0) ::_exit(127);
  if (!std::freopen(log.c_str(), "w", stdout) || ::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) ::_exit(127);
  for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
  std::vector<char*> argv{const_cast<char*>(ATTN_DIFF_BINARY)};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(ATTN_DIFF_BINARY, argv.data());
  ::_exit(127);
}

/// A fresh, empty temporary folder for one test, removed by the destructor. The process id keeps
/// test runs of other checkouts on the same machine (sharing /tmp) out of each other's files.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("attn_diff_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name, const std::string& content = "") const {
    const auto p = path / name;
    if (!content.empty()) std::ofstream(p) << content;
    return p.string();
  }
};

}  // namespace attn::test
