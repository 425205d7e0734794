#include "src/candidate_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/npy.hpp"
#include "src/safetensors.hpp"

namespace attn {

namespace {

bool read_bytes(const std::string& path, std::string* bytes, std::string* err) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    *err = fmt::format("{}: error: no such file", path);
    return false;
  }
  if (std::filesystem::is_directory(path, ec)) {
    *err = fmt::format("{}: error: is a directory, not a file", path);
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = fmt::format("{}: error: cannot open the file ({})", path, std::strerror(errno));
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  *bytes = s.str();
  return true;
}

// The tensor a safetensors file holds the output in: "out", or the only tensor.
const Array* pick_tensor(const std::vector<NamedArray>& tensors, const std::string& path, std::string* err) {
  for (const NamedArray& t : tensors)
    if (t.name == "out") return &t.array;
  if (tensors.size() == 1) return &tensors.front().array;
  std::vector<std::string> names;
  for (const NamedArray& t : tensors) names.push_back("'" + t.name + "'");
  *err = tensors.empty() ? fmt::format("{}: error: the file holds no tensor", path)
                         : fmt::format("{}: error: the file holds {} tensors ({}) and none is named 'out'\nnote: "
                                       "name the output tensor 'out', or write it alone",
                                       path, tensors.size(), fmt::join(names, ", "));
  return nullptr;
}

}  // namespace

bool read_candidate(const std::string& path, const Index4& dims, const CandidateReadOptions& opt,
                    std::vector<double>* out, std::string* err) {
  std::string bytes;
  if (!read_bytes(path, &bytes, err)) return false;
  if (bytes.empty()) {
    *err = fmt::format("{}: error: the file is empty", path);
    return false;
  }
  Array npy;
  std::vector<NamedArray> tensors;
  const Array* array = nullptr;
  if (bytes.starts_with("\x93NUMPY")) {
    if (!parse_npy(bytes, path, &npy, err, {.bf16_bits = opt.bf16_bits})) return false;
    array = &npy;
  } else {
    std::string st_err;
    if (!parse_safetensors(bytes, path, &tensors, &st_err)) {
      const bool named_st = path.ends_with(".safetensors");
      *err = named_st ? st_err
                      : fmt::format("{}: error: neither an .npy file (no \\x93NUMPY magic) nor a valid .safetensors "
                                    "file\nnote: as .safetensors: {}",
                                    path, st_err);
      return false;
    }
    if (!(array = pick_tensor(tensors, path, err))) return false;
  }
  return layout_to_bshd(opt.layout, array->shape, array->values, dims, path, out, err);
}

}  // namespace attn
