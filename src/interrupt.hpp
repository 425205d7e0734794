// Stopping a run on Ctrl-C (SIGINT) or SIGTERM without losing what was done. The handler only sets
// a flag; parallel_for checks it before every task (a query tile of the tiled kernel, a (batch,
// head) of the references) and throws Interrupted, and `run` checks it between cases. `run` then
// writes its reports for the cases already done, marked incomplete, and exits 128 + the signal.
// A second signal gets the default action, so a stuck run still dies on the second Ctrl-C.
#pragma once

#include <atomic>
#include <stdexcept>

namespace attn {

/// Thrown out of a computation that saw the flag; the case it was part of is dropped.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

/// The signal that asked the run to stop, 0 while none has.
inline std::atomic<int> g_interrupt_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is written from a signal handler");

inline int interrupt_signal() { return g_interrupt_signal.load(std::memory_order_relaxed); }
inline bool interrupted() { return interrupt_signal() != 0; }
inline void throw_if_interrupted() {
  if (interrupted()) throw Interrupted();
}

/// What the signal handler does, callable from a test.
inline void request_interrupt(int sig) { g_interrupt_signal.store(sig, std::memory_order_relaxed); }

/// Installs the SIGINT and SIGTERM handlers for its lifetime, then restores the previous ones and
/// clears the flag.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  struct Saved;
  Saved* saved_;
};

}  // namespace attn
