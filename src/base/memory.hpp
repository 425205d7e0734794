// Peak memory of the process, per case or per stage: Linux keeps a high-water mark of resident
// memory (VmHWM) that writing 5 to /proc/self/clear_refs resets.
#pragma once

#include <cstdint>

namespace attn {

/// Resets the high-water mark to the current resident size (a no-op where Linux does not allow it).
void reset_peak_memory();

/// The resident high-water mark in bytes since the last reset_peak_memory(), or since the process
/// started where resets do not work (getrusage's ru_maxrss then).
std::uint64_t peak_memory_bytes();

/// True when reset_peak_memory() really resets, so peaks are per case or stage.
bool peak_memory_resettable();

}  // namespace attn
