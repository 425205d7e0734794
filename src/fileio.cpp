#include "src/fileio.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace attn {

bool write_file_atomic(const std::string& path, const std::string& content, std::string* err) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    *err = fmt::format("{}: error: is a directory, not a file", path);
    return false;
  }
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / fmt::format(".{}.tmp.{}", target.filename().string(), ::getpid())).string();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      *err = fmt::format("{}: error: cannot write ({})", path, std::strerror(errno));
      return false;
    }
    out << content;
    out.flush();
    if (!out) {
      *err = fmt::format("{}: error: write failed ({})", path, std::strerror(errno));
      out.close();
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    *err = fmt::format("{}: error: cannot rename the temporary file into place ({})", path, ec.message());
    fs::remove(tmp, ec);
    return false;
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
