#include "src/base/fileio.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "src/base/diagnostic.hpp"

namespace attn {

namespace fs = std::filesystem;

namespace {

// What `path` names after following symlinks: a path to that file (the path itself when it is no
// symlink) so a temporary file goes beside the real target and a rename replaces it, not the link.
// A dangling link names the file it would create.
fs::path resolve_target(const fs::path& path) {
  fs::path p = path;
  std::error_code ec;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : (p.has_parent_path() ? p.parent_path() : fs::path(".")) / to;
  }
  return p;
}

std::string errno_text(int e) { return std::strerror(e); }

// Writes all of `content` to an open descriptor; false with errno set on failure.
bool write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    content.remove_prefix(std::size_t(n));
  }
  return true;
}

enum class Kind { missing, regular, stream, directory, other };

Kind kind_of(const fs::path& target, struct stat* st) {
  if (::stat(target.c_str(), st) != 0) return Kind::missing;
  if (S_ISREG(st->st_mode)) return Kind::regular;
  if (S_ISCHR(st->st_mode) || S_ISFIFO(st->st_mode)) return Kind::stream;
  if (S_ISDIR(st->st_mode)) return Kind::directory;
  return Kind::other;
}

std::string refuse(const std::string& path, Kind k) {
  return k == Kind::directory
             ? fmt::format("{}: error: is a directory, not a file", printable(path))
             : fmt::format("{}: error: is not a regular file, a character device or a FIFO; refusing to replace it", printable(path));
}

// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: a descriptor attn-diff already has. It is
// written in place and appended to, even when it is a regular file (`> out.txt`): replacing that
// file would leave the shell's descriptor, and everything printed, on an unlinked inode.
bool is_own_descriptor(const std::string& path) {
  return path == "/dev/stdout" || path == "/dev/stderr" || path.starts_with("/dev/fd/") ||
         path.starts_with("/proc/self/fd/");
}

}  // namespace

bool write_file_atomic(const std::string& path, const std::string& content, std::string* err) {
  const bool own = is_own_descriptor(path);
  const fs::path target = own ? fs::path(path) : resolve_target(path);
  struct stat st {};
  const Kind kind = kind_of(target, &st);
  if (kind == Kind::directory || kind == Kind::other) {
    *err = refuse(path, kind);
    return false;
  }
  if (kind == Kind::stream || own) {  // /dev/null, /dev/stdout, a FIFO: written in place, never replaced
    const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | (own ? O_APPEND : 0));
    if (fd < 0) {
      *err = fmt::format("{}: error: cannot open for writing ({})", printable(path), errno_text(errno));
      return false;
    }
    const bool ok = write_all(fd, content);
    const int e = errno;
    if (::close(fd) != 0 && ok) {
      *err = fmt::format("{}: error: write failed ({})", printable(path), errno_text(errno));
      return false;
    }
    if (!ok) *err = fmt::format("{}: error: write failed ({})", printable(path), errno_text(e));
    return ok;
  }
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string base = fmt::format(".{}.tmp.{}", target.filename().string(), ::getpid());
  std::string tmp;
  int fd = -1;
  for (int n = 0; n < 100 && fd < 0; ++n) {  // O_EXCL: never write through a file (or link) already there
    tmp = (dir / (n ? fmt::format("{}.{}", base, n) : base)).string();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    *err = fmt::format("{}: error: cannot write ({})", printable(path), errno_text(errno));
    return false;
  }
  bool ok = write_all(fd, content);
  int e = errno;
  if (::close(fd) != 0 && ok) ok = false, e = errno;
  if (!ok) {
    *err = fmt::format("{}: error: write failed ({})", printable(path), errno_text(e));
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    *err = fmt::format("{}: error: cannot rename the temporary file into place ({})", printable(path), errno_text(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool probe_output(const std::string& path, std::string* err) {
  const fs::path target = resolve_target(path);
  struct stat st {};
  const Kind kind = kind_of(target, &st);
  if (kind == Kind::directory || kind == Kind::other) {
    *err = refuse(path, kind);
    return false;
  }
  if (kind == Kind::stream || is_own_descriptor(path)) {
    if (::access(target.c_str(), W_OK) == 0) return true;
    *err = fmt::format("{}: error: cannot write ({})", printable(path), errno_text(errno));
    return false;
  }
  // A probe where write_file_atomic puts its temporary file: the same errors, before the run.
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string probe = (dir / fmt::format(".{}.probe.{}", target.filename().string(), ::getpid())).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) {
    *err = fmt::format("{}: error: cannot write ({})", printable(path), errno_text(errno));
    return false;
  }
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
  }
  return true;
}

FileIdentity file_identity(const std::string& path) {
  FileIdentity id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    id.exists = true;
    id.dev = std::uint64_t(st.st_dev);
    id.ino = std::uint64_t(st.st_ino);
    id.is_device = S_ISCHR(st.st_mode);
    return id;
  }
  std::error_code ec;
  const fs::path abs = fs::absolute(resolve_target(path), ec);
  const fs::path normal = fs::weakly_canonical(abs, ec);
  id.normal = (ec ? abs.lexically_normal() : normal).string();
  return id;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool InputFile::open(const std::string& path, std::string* err) {
  std::string why;
  if (open_quietly(path, &why)) return true;
  *err = fmt::format("{}: error: {}", printable(path), why);
  return false;
}

bool InputFile::open_quietly(const std::string& path, std::string* why) {
  path_ = path;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    *why = fmt::format("cannot open the file ({})", errno_text(errno));
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    *why = fmt::format("cannot open the file ({})", errno_text(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                                              : "a socket";
    *why = S_ISDIR(st.st_mode) ? std::string("is a directory, not a file") : fmt::format("is {}, not a regular file", what);
    return false;
  }
  size_ = std::uint64_t(st.st_size);
  return true;
}

bool read_text_file(const std::string& path, std::string* text, std::string* why) {
  InputFile f;
  if (!f.open_quietly(path, why)) return false;
  if (f.size() > kMaxTextFileBytes) {
    *why = fmt::format("is {} bytes, more than the {} a text input may hold", f.size(), kMaxTextFileBytes);
    return false;
  }
  std::string err;
  if (f.read(0, f.size(), text, &err)) return true;
  *why = err.substr(printable(path).size() + 9);  // read() says "PATH: error: WHY"; the caller names the file
  return false;
}

bool InputFile::read(std::uint64_t offset, std::uint64_t n, std::string* out, std::string* err) const {
  if (offset > size_ || n > size_ - offset) {
    *err = fmt::format("{}: error: bytes [{}, {}) lie past the end of the file ({} bytes)", printable(path_), offset, offset + n, size_);
    return false;
  }
  out->resize(std::size_t(n));
  std::uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out->data() + done, std::size_t(n - done), off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *err = got == 0 ? fmt::format("{}: error: the file shrank while being read", printable(path_))
                      : fmt::format("{}: error: read failed ({})", printable(path_), errno_text(errno));
      return false;
    }
    done += std::uint64_t(got);
  }
  return true;
}

std::string safe_file_name(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 199)) {
    const auto u = static_cast<unsigned char>(c);
    out += (c == '/' || c == '\\' || u < 0x20 || u == 0x7F) ? '_' : c;
  }
  if (out.empty() || out[0] == '.') out.insert(out.begin(), '_');
  return out;
}

}  // namespace attn
