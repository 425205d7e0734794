#include "src/memory.hpp"

#include <sys/resource.h>

#include <fstream>
#include <string>

namespace attn {

void reset_peak_memory() {
  std::ofstream clear("/proc/self/clear_refs");
  if (clear) clear << "5";
}

std::uint64_t peak_memory_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? std::uint64_t(u.ru_maxrss) * 1024 : 0;
}

}  // namespace attn
