// Poisoned buffers, a debug mode: with ATTN_DIFF_POISON=1 in the environment (or set_poison(true)),
// every output buffer and every scratch buffer of the kernels is filled with NaN when it is
// allocated. A correct kernel writes every element before reading it, so its results are bit for
// bit those of a normal run; one that reads memory nothing wrote now shows NaN where it used to see
// a lucky 0. tests/judge/poison_test.cpp runs the suites both ways. Off, it costs one relaxed load per
// buffer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace attn {

namespace detail {
inline std::atomic<int> g_poison{-1};  // -1: not yet read from the environment
}

inline bool poison_enabled() {
  int on = detail::g_poison.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("ATTN_DIFF_POISON");
    on = env && *env && std::string_view(env) != "0";
    detail::g_poison.store(on, std::memory_order_relaxed);
  }
  return on != 0;
}

/// Overrides ATTN_DIFF_POISON (tests).
inline void set_poison(bool on) { detail::g_poison.store(on ? 1 : 0, std::memory_order_relaxed); }

/// Fills a buffer that is about to be written with NaN, when poisoning is on.
template <class T>
void poison(std::span<T> buffer) {
  if (poison_enabled()) std::fill(buffer.begin(), buffer.end(), std::numeric_limits<T>::quiet_NaN());
}
template <class T>
void poison(std::vector<T>& buffer) {
  poison(std::span<T>(buffer));
}

}  // namespace attn
