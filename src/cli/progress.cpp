#include "src/cli/progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace attn {

namespace {

constexpr auto kDelay = std::chrono::seconds(1);            // runs shorter than this show nothing
constexpr auto kRedraw = std::chrono::milliseconds(200);    // five redraws a second are enough to read

}  // namespace

bool progress_wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::size_t total, bool enabled) : total_(total), enabled_(enabled) {
  if (enabled_) thread_ = std::thread([this] { loop(); });
}

Progress::~Progress() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (drawn_) std::fputs("\r\033[K", stderr), std::fflush(stderr);
}

void Progress::start_case(std::size_t done, const std::string& name) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  done_ = done;
  name_ = name;
}

std::string Progress::line(std::size_t done, std::size_t total, const std::string& name, double elapsed) {
  std::string left = "time left unknown";
  if (done > 0) left = fmt::format("about {:.0f} s left", elapsed / double(done) * double(total - done));
  return fmt::format("[{}/{}] {}  {:.1f} s, {}", done, total, name, elapsed, left);
}

void Progress::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  if (wake_.wait_for(lock, kDelay, [this] { return stop_; })) return;
  while (!stop_) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r\033[K%s", line(done_, total_, name_, elapsed).c_str());
    std::fflush(stderr);
    drawn_ = true;
    wake_.wait_for(lock, kRedraw, [this] { return stop_; });
  }
}

}  // namespace attn
