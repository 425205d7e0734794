// Stopping a run on Ctrl-C (SIGINT) or SIGTERM without losing what was done. The handler only sets
// a flag; parallel_for checks it before every task (a query tile of the tiled kernel, a (batch,
// head) of the references) and throws Interrupted, `run` checks it between cases, and an external
// command's wait loop (src/judge/external.cpp) checks it every 50 ms, kills the command's process group
// and removes the case's temporary directory before throwing. `run` then writes its reports for
// the cases already done, marked incomplete, and exits 128 + the signal.
// A second signal quits at once: while an external command's case is in progress it kills the
// command's group with SIGKILL (the case then tidies up in milliseconds); otherwise it gets the
// default action, so a stuck run still dies on the second Ctrl-C (on the third, when the second
// was spent on an external case that did not finish tidying up).
#pragma once

#include <signal.h>

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

/// Set by a second signal: whatever is being waited for (an external command's grace period after
/// SIGTERM) is not waited for any more.
inline std::atomic<bool> g_quit_now{false};
/// The process groups of the external commands and workers running now (0 = a free slot): a second
/// signal kills each. More than one runs at once with --candidate-jobs.
inline constexpr int kMaxCommandGroups = 64;
inline std::atomic<int> g_command_groups[kMaxCommandGroups]{};
static_assert(std::atomic<int>::is_always_lock_free, "the groups are read from a signal handler");

/// Registers a process group in g_command_groups for its lifetime. Unregister it before the group
/// leader is reaped (its pid, the group's id, may then be reused): call release() or let the scope end.
class CommandGroup {
 public:
  explicit CommandGroup(int group) {
    for (auto& slot : g_command_groups) {
      int free = 0;
      if (slot.compare_exchange_strong(free, group)) {
        slot_ = &slot;
        return;
      }
    }  // every slot taken: the group is still killed at its timeout, only not by a second signal
  }
  ~CommandGroup() { release(); }
  void release() {
    if (slot_) slot_->store(0);
    slot_ = nullptr;
  }
  CommandGroup(const CommandGroup&) = delete;
  CommandGroup& operator=(const CommandGroup&) = delete;

 private:
  std::atomic<int>* slot_ = nullptr;
};

/// What a second signal does to the registered groups (async-signal-safe: kill(2) only).
inline void kill_command_groups(int sig) {
  for (auto& slot : g_command_groups)
    if (const int group = slot.load(); group > 0) ::kill(-group, sig);
}
/// How many cases are holding something that must be removed before attn-diff exits (an external
/// command's temporary directory). While there are any, a second signal does not kill attn-diff.
inline std::atomic<int> g_cleanup_pending{0};

/// Counts the scope in g_cleanup_pending.
struct CleanupPending {
  CleanupPending() { ++g_cleanup_pending; }
  ~CleanupPending() { --g_cleanup_pending; }
  CleanupPending(const CleanupPending&) = delete;
  CleanupPending& operator=(const CleanupPending&) = delete;
};

}  // namespace attn
