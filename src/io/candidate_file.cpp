#include "src/io/candidate_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>


#include "src/base/fileio.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"

namespace attn {

namespace {

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
  // Only a regular file, and nothing of it past the header until the header fits the case: {out}
  // may be a FIFO, /dev/zero or a sparse file claiming gigabytes.
  InputFile file;
  if (!file.open(path, err)) return false;
  if (file.size() == 0) {
    *err = fmt::format("{}: error: the file is empty", path);
    return false;
  }
  // A shape that cannot be the output is refused with the layout's message before its data is read.
  const auto accept_shape = [&](const std::vector<std::int64_t>& shape, std::string* why) {
    if (element_count(shape) == dims[0] * dims[1] * dims[2] * dims[3]) return true;
    std::vector<double> unused;
    return layout_to_bshd(opt.layout, shape, {}, dims, path, &unused, why);  // fails: it has the wrong size
  };
  std::string magic;
  if (!file.read(0, std::min<std::uint64_t>(file.size(), 6), &magic, err)) return false;
  Array array;
  if (magic == "\x93NUMPY") {
    if (!read_npy(file, &array, err, {.bf16_bits = opt.bf16_bits, .accept_shape = accept_shape})) return false;
  } else {
    SafetensorsIndex index;
    std::string st_err;
    if (!read_safetensors_index(file, &index, &st_err)) {
      const bool named_st = path.ends_with(".safetensors");
      *err = named_st ? st_err
                      : fmt::format("{}: error: neither an .npy file (no \\x93NUMPY magic) nor a valid .safetensors "
                                    "file\nnote: as .safetensors: {}",
                                    path, st_err);
      return false;
    }
    const Array* picked = pick_tensor(index.tensors, path, err);
    if (!picked) return false;
    std::size_t at = 0;
    while (&index.tensors[at].array != picked) ++at;
    if (!accept_shape(picked->shape, err) || !read_safetensors_tensor(file, index, at, &array, err)) return false;
  }
  return layout_to_bshd(opt.layout, array.shape, array.values, dims, path, out, err);
}

}  // namespace attn
