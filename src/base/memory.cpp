#include "src/base/memory.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fstream>
#include <string>

namespace attn {

namespace {

std::uint64_t read_vm_hwm() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  return 0;
}

bool write_clear_refs() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}

}  // namespace

bool peak_memory_resettable() {
  static const bool ok = write_clear_refs() && read_vm_hwm() > 0;
  return ok;
}

void reset_peak_memory() {
  if (peak_memory_resettable()) write_clear_refs();
}

std::uint64_t peak_memory_bytes() {
  if (peak_memory_resettable()) return read_vm_hwm();
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return std::uint64_t(u.ru_maxrss) * 1024;
}

}  // namespace attn
