// A worker built on examples/cpp_worker/attn_diff_worker.hpp whose kernel misbehaves on request, for
// tests/cli/cpp_worker_test.cpp: the request's case name picks what it does. It writes to stdout
// every way C and C++ can (printf, std::cout, write(1)), before serve() and inside the kernel, so the
// tests can check that none of it reaches the protocol channel.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "examples/cpp_worker/attn_diff_worker.hpp"

int main() {
  std::printf("printf before serve\n");  // buffered: serve() must send it to stderr
  std::cout << "std::cout before serve\n";  // no flush either
  return attn_diff_worker::serve("probe", [](const attn_diff_worker::Case& c) {
    std::printf("printf from the kernel of %s\n", c.name.c_str());
    std::cout << "std::cout from the kernel" << std::endl;
    if (::write(1, "write(1) from the kernel\n", 25) != 25) throw std::runtime_error("write(1) failed");
    if (c.name == "throws") throw std::runtime_error("the kernel exploded on purpose");
    if (c.name == "unsupported") throw attn_diff_worker::Unsupported("this kernel has no sliding window");
    if (c.name == "throws_int") throw 42;
    if (c.name == "bad_shape") {
      attn_diff_worker::Tensor t({2, 3});
      t.data.pop_back();
      return t;
    }
    if (c.name == "reads_stdin") {
      char buf[64];
      if (::read(0, buf, sizeof buf) != 0) throw std::runtime_error("stdin is not /dev/null");
    }
    return attn_diff_worker::read_npy(c.dir + "/tiled.npy");
  }, R"({"layouts": ["bshd"], "backward": false})");
}
