// The progress line of a long run on stderr: cases done / total, the current case, time left.
// It appears only after a second (short runs stay quiet), only when stderr is a terminal, and is
// erased when the run ends, so logs and pipes never see it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace attn {

class Progress {
 public:
  /// `enabled` false (--quiet, or stderr not a terminal: see progress_wanted) makes every call a no-op.
  Progress(std::size_t total, bool enabled);
  ~Progress();  // stops the redraw thread and erases the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Case number `done` (0-based, so `done` cases are finished) named `name` starts.
  void start_case(std::size_t done, const std::string& name);

  /// The line as drawn at `elapsed` seconds: "[3/8] causal_small_tiles  2.1 s, about 3 s left".
  static std::string line(std::size_t done, std::size_t total, const std::string& name, double elapsed);

 private:
  void loop();

  const std::size_t total_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false, drawn_ = false;
  std::size_t done_ = 0;
  std::string name_;
  std::thread thread_;
};

/// The progress line is wanted: not --quiet and stderr is a terminal.
bool progress_wanted(bool quiet);

}  // namespace attn
