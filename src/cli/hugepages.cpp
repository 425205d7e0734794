#include "src/cli/hugepages.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace attn {

namespace {

// Puts GLIBC_TUNABLES back as the caller had it ("=value", or "" for unset), so that the commands
// attn-diff starts (--candidate-cmd) see the caller's environment.
void restore_tunables(const char* was) {
  if (was[0] == '=') ::setenv("GLIBC_TUNABLES", was + 1, 1);
  else ::unsetenv("GLIBC_TUNABLES");
  ::unsetenv("ATTN_DIFF_TUNABLES_WAS");
}

}  // namespace

void use_huge_pages(char** argv) {
  if (const char* was = std::getenv("ATTN_DIFF_TUNABLES_WAS")) {  // the re-executed process: glibc has read it
    restore_tunables(std::string(was).c_str());
    return;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const char* wanted = std::getenv("ATTN_DIFF_HUGEPAGES");
  if ((wanted && std::strcmp(wanted, "0") == 0) || (tunables && std::strstr(tunables, "glibc.malloc.hugetlb")))
    return;
  std::string was, value;
  if (tunables) was.append("=").append(tunables);
  if (tunables && *tunables) value.append(tunables).append(":");
  value.append("glibc.malloc.hugetlb=1");
  ::setenv("ATTN_DIFF_TUNABLES_WAS", was.c_str(), 1);
  ::setenv("GLIBC_TUNABLES", value.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  restore_tunables(was.c_str());  // not re-executed (no /proc, say): go on with 4 KiB pages
}

}  // namespace attn
