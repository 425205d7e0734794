// Files in and out, so that nobody ever sees half of one and nothing from outside can make us block
// or read without bound.
//
// Writing (write_file_atomic, probe_output): a report path is resolved through symlinks to the file
// it names. A regular file (or a new one) is replaced atomically: a temporary file in the target's
// folder, then a rename, so the symlink stays a symlink and a reader never sees half a report. A
// character device or a FIFO (/dev/null, /dev/stdout, a named pipe a reader waits on) is written
// directly, never replaced; so is /dev/stdout (/dev/stderr, /dev/fd/N), appended to even when the
// shell redirected it to a regular file. Anything else (a folder, a block device, a socket) is refused.
//
// Reading (InputFile): only regular files, opened without blocking, so a FIFO or /dev/zero named
// as an input is an error instead of a hang or an endless read; callers check sizes from the
// header against size() before reading the data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace attn {

/// Writes `content` to `path` (see the header comment: atomically for a regular file, directly for
/// a character device or a FIFO). Returns false with "path: error: cannot write ... (strerror)" on
/// failure, after removing its temporary file; the old file, if any, is left untouched.
bool write_file_atomic(const std::string& path, const std::string& content, std::string* err);

/// Before a long run: the checks write_file_atomic will meet, without writing the target: not a
/// folder or another kind of file it refuses, and a temporary file can be created in the target's
/// folder (a device or a FIFO must be writable; it is not opened, so a FIFO does not block).
bool probe_output(const std::string& path, std::string* err);

/// The identity of a path for "is this the same file?": (st_dev, st_ino) of what it names after
/// symlinks when it exists, else its absolute, normalised path with symlinks of the existing part
/// resolved. `is_device` is set for character devices (writing two reports to /dev/null is fine).
struct FileIdentity {
  bool exists = false;
  std::uint64_t dev = 0, ino = 0;
  std::string normal;
  bool is_device = false;
  bool operator==(const FileIdentity& o) const {
    return exists == o.exists && (exists ? dev == o.dev && ino == o.ino : normal == o.normal);
  }
};
FileIdentity file_identity(const std::string& path);

/// A regular file opened for reading. open() refuses anything else (a FIFO, a device, a folder)
/// without blocking on it; read() reads exactly [offset, offset + n) or fails naming the file.
class InputFile {
 public:
  InputFile() = default;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile();
  bool open(const std::string& path, std::string* err);
  /// open() with only the reason in `why` ("is a FIFO, not a regular file"), no file name.
  bool open_quietly(const std::string& path, std::string* why);
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool read(std::uint64_t offset, std::uint64_t n, std::string* out, std::string* err) const;

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string path_;
};

/// The largest suite, case.json, report or baseline read_text_file() reads: far past any real one.
inline constexpr std::uint64_t kMaxTextFileBytes = std::uint64_t(1) << 30;

/// The whole of a regular file of at most kMaxTextFileBytes, through InputFile (no FIFO, device or
/// folder). On failure `why` is the reason without the file name ("is a FIFO, not a regular file"),
/// for the caller's own message.
bool read_text_file(const std::string& path, std::string* text, std::string* why);

/// A case name (or any label from a config) made safe to use as one file or folder name: '/', '\\',
/// control characters and a leading '.' become '_', so "../../x" cannot leave the folder it is
/// written in, "" becomes "_", and the result is at most 200 bytes. Different names may map to the
/// same result; a caller that writes several adds something unique (the case's position).
std::string safe_file_name(std::string_view name);

}  // namespace attn
