// libFuzzer target: arbitrary bytes as a JSON report read by merge (see fuzz_entries.hpp for the properties checked).
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string why = attn::fuzz::report_entry({reinterpret_cast<const char*>(data), size});
  if (!why.empty()) {
    std::fprintf(stderr, "report_fuzz: property broken: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
