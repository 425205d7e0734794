// Peak memory of the process, per case: Linux keeps a high-water mark of resident memory (VmHWM)
// that writing 5 to /proc/self/clear_refs resets, so a run can report each case's own peak.
#pragma once

#include <cstdint>

namespace attn {

/// Resets the high-water mark to the current resident size (a no-op where Linux does not allow it).
void reset_peak_memory();

/// The resident high-water mark in bytes since the last reset (since start where resets fail);
/// 0 when the system does not tell.
std::uint64_t peak_memory_bytes();

}  // namespace attn
