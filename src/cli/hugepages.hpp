// Transparent huge pages for the command-line program (a library host such as Python is never
// re-executed).
#pragma once

namespace attn {

/// Called first thing in main: re-executes the program once with glibc's malloc asking for
/// transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1). A case's buffers are tens to
/// hundreds of MB and are each written once, so with 4 KiB pages the page faults alone cost a
/// quarter of a run on a virtual machine. Does nothing when the tunable is already set, when
/// ATTN_DIFF_HUGEPAGES=0, or when the re-execution fails (the program then just goes on).
void use_huge_pages(char** argv);

}  // namespace attn
