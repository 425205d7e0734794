// Writing files so that nobody ever sees half of one.
#pragma once

#include <string>
#include <string_view>

namespace attn {

/// Writes `content` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a report. Returns false with a message naming the path on failure.
bool write_file_atomic(const std::string& path, const std::string& content, std::string* err);

/// A case name (or any label from a config) made safe to use as one file or folder name: '/', '\\',
/// control characters and a leading '.' become '_', so "../../x" cannot leave the folder it is
/// written in, "" becomes "_", and the result is at most 200 bytes. Different names may map to the
/// same result; a caller that writes several adds something unique (the case's position).
std::string safe_file_name(std::string_view name);

}  // namespace attn
