#include "src/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

namespace attn {

namespace {

void on_stop_signal(int sig) {
  request_interrupt(sig);
  // Only async-signal-safe calls here: an atomic store and write(2).
  static const char msg[] = "\nattn-diff: interrupted; writing the reports of the cases already done "
                            "(interrupt again to quit at once)\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

}  // namespace

struct InterruptScope::Saved {
  struct sigaction int_action, term_action;
};

InterruptScope::InterruptScope() : saved_(new Saved) {
  g_interrupt_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESETHAND: the second signal kills as usual. SA_RESTART: a blocking call (a child process,
  // a file write) finishes instead of failing with EINTR.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &sa, &saved_->int_action);
  sigaction(SIGTERM, &sa, &saved_->term_action);
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &saved_->int_action, nullptr);
  sigaction(SIGTERM, &saved_->term_action, nullptr);
  g_interrupt_signal.store(0);
  delete saved_;
}

}  // namespace attn
