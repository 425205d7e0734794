// The SIGINT and SIGTERM handlers behind src/base/interrupt.hpp's flag: the command line installs them,
// the core only reads the flag (a Python host keeps its own handlers).
#pragma once

#include "src/base/interrupt.hpp"

namespace attn {

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
