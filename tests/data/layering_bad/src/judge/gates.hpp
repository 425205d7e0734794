// Fine on its own: the judge may include the suite. printf and exit in a comment do not count.
#pragma once
#include "src/suite/case.hpp"
inline const char* kNote = "stderr and exit( in a string do not count";
inline const char* kRaw = R"x(std::cout << "in a raw string")x";
