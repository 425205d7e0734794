#include "src/cli/signals.hpp"

#include <signal.h>
#include <unistd.h>

namespace attn {

namespace {

void say(const char* msg, std::size_t n) { [[maybe_unused]] const auto r = ::write(STDERR_FILENO, msg, n); }

// Only async-signal-safe calls here: atomics, write(2), kill(2), signal(2) and raise(3).
void on_stop_signal(int sig) {
  if (!interrupted()) {
    request_interrupt(sig);
    static const char msg[] = "\nattn-diff: interrupted; writing the reports of the cases already done "
                              "(interrupt again to quit at once)\n";
    say(msg, sizeof msg - 1);
    return;
  }
  kill_command_groups(SIGKILL);
  // The third signal dies whatever is pending: a case stuck while tidying up must not hold us.
  if (g_cleanup_pending.load() > 0 && !g_quit_now.exchange(true)) {
    static const char msg[] = "\nattn-diff: interrupted again: killed the candidate command; removing its temporary "
                              "files (a third interrupt quits without)\n";
    say(msg, sizeof msg - 1);
    return;
  }
  g_quit_now.store(true);
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // delivered when the handler returns: dies as if never caught
}
}  // namespace

struct InterruptScope::Saved {
  struct sigaction int_action, term_action;
};

InterruptScope::InterruptScope() : saved_(new Saved) {
  g_interrupt_signal.store(0);
  g_quit_now.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // The handler itself gives the second signal the default action, unless a case must tidy up
  // first. SA_RESTART: a blocking call (a file write) finishes instead of failing with EINTR.
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &saved_->int_action);
  sigaction(SIGTERM, &sa, &saved_->term_action);
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &saved_->int_action, nullptr);
  sigaction(SIGTERM, &saved_->term_action, nullptr);
  g_interrupt_signal.store(0);
  g_quit_now.store(false);
  delete saved_;
}

}  // namespace attn
