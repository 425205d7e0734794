// A minimal fork-join loop. Each task writes a disjoint part of the output, so results do not
// depend on the number of threads or on which thread ran which task.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "src/base/interrupt.hpp"

namespace attn {

/// Number of threads to use when the user asked for `requested` (0 = one per core).
inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

/// Runs fn(task) for task in [0, n) on up to `threads` threads; rethrows the first exception.
/// Throws Interrupted before starting a task once the run has been asked to stop (src/base/interrupt.hpp).
template <class Fn>
void parallel_for(std::int64_t n, int threads, Fn&& fn) {
  const int workers = static_cast<int>(std::min<std::int64_t>(std::max(threads, 1), n));
  if (workers <= 1) {
    for (std::int64_t t = 0; t < n; ++t) {
      throw_if_interrupted();
      fn(t);
    }
    return;
  }
  std::atomic<std::int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::int64_t t; (t = next.fetch_add(1)) < n;) {
      try {
        throw_if_interrupted();
        fn(t);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::jthread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  pool.clear();
  if (error) std::rethrow_exception(error);
}

}  // namespace attn
