// libFuzzer target: arbitrary bytes as a dump's case.json (see fuzz_entries.hpp for the properties checked).
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string why = attn::fuzz::dump_case_entry({reinterpret_cast<const char*>(data), size});
  if (!why.empty()) {
    std::fprintf(stderr, "dump_case_fuzz: property broken: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
