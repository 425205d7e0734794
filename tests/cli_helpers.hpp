// Running the attn-diff binary from a test and capturing what it printed and its exit code.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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
