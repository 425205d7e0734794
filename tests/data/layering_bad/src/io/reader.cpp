#include "kernels/tiled.hpp"

#include <cstdio>
#include <cstdlib>

void read_it() {
  std::fprintf(stderr, "the core must not print\n");
  std::exit(1);
}
