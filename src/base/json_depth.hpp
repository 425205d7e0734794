// A guard for JSON from outside: nlohmann::json parses any nesting depth without recursion, but
// copying, merging, comparing and dumping a value recurse once per level, so a file of 100 000
// '[' crashes the process on the stack (found by tests/bad_inputs). Callers refuse such text
// before parsing it.
#pragma once

#include <cstddef>
#include <string_view>

namespace attn {

/// The deepest a suite file or a safetensors header may nest; real ones nest 3 to 5 levels.
inline constexpr int kMaxJsonDepth = 64;

/// Offset of the first '[' or '{' (outside strings) that opens level max_depth + 1, or npos.
std::size_t json_too_deep(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace attn
