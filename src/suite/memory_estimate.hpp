// How much memory a case needs (SPEC §4, --max-memory): estimated when the suite is loaded, so
// that a case too large for the machine is refused with its size instead of running out of memory.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace attn {

struct CaseSpec;

/// Bytes a run of the case needs at its peak: inputs, the three outputs, the candidate copy, and
/// per-thread workspace.
std::uint64_t estimate_memory(const CaseSpec& c, int threads);

/// The product of `xs`, or nullopt when it overflows int64.
std::optional<std::int64_t> checked_product(std::initializer_list<std::int64_t> xs);

/// "1.5 GiB": bytes in the largest binary unit that keeps the number at least 1, one decimal.
std::string human_bytes(std::uint64_t b);

}  // namespace attn
