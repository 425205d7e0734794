// Writing files so that nobody ever sees half of one.
#pragma once

#include <string>

namespace attn {

/// Writes `content` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a report. Returns false with a message naming the path on failure.
bool write_file_atomic(const std::string& path, const std::string& content, std::string* err);

}  // namespace attn
