#include "src/cli/common.hpp"
// The Python module may include any core layer but never the command line, and prints nothing.
#include <cstdio>
void hello() { std::puts("hello"); }
