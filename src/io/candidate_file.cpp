#include "src/io/candidate_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>


#include "src/base/fileio.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"

namespace attn {

bool read_candidate(const std::string& path, const Index4& dims, const CandidateReadOptions& opt,
                    std::vector<double>* out, std::string* err) {
  std::vector<std::vector<double>> none;
  return read_candidate_tensors(path, dims, {}, opt, out, &none, err);
}

bool read_candidate_tensors(const std::string& path, const Index4& dims, const std::vector<ExtraTensor>& extra,
                            const CandidateReadOptions& opt, std::vector<double>* out,
                            std::vector<std::vector<double>>* found, std::string* err) {
  found->assign(extra.size(), {});
  const bool needs_safetensors = std::any_of(extra.begin(), extra.end(), [](const ExtraTensor& t) { return t.required; });
  // Only a regular file, and nothing of it past the header until the header fits the case: {out}
  // may be a FIFO, /dev/zero or a sparse file claiming gigabytes.
  InputFile file;
  if (!file.open(path, err)) return false;
  if (file.size() == 0) {
    *err = fmt::format("{}: error: the file is empty", path);
    return false;
  }
  // A shape that cannot be the output is refused with the layout's message before its data is read.
  const auto accept_shape_of = [&](const Index4& d, const std::string& what) {
    return [&, d, what](const std::vector<std::int64_t>& shape, std::string* why) {
      if (element_count(shape) == d[0] * d[1] * d[2] * d[3]) return true;
      std::vector<double> unused;
      return layout_to_bshd(opt.layout, shape, {}, d, what, &unused, why);  // fails: it has the wrong size
    };
  };
  const auto accept_shape = accept_shape_of(dims, path);
  std::string magic;
  if (!file.read(0, std::min<std::uint64_t>(file.size(), 6), &magic, err)) return false;
  Array array;
  if (magic == "\x93NUMPY") {
    if (needs_safetensors) {
      std::vector<std::string> names = {"'out'"};
      for (const ExtraTensor& t : extra)
        if (t.required) names.push_back("'" + t.name + "'");
      *err = fmt::format("{}: error: an .npy file holds one tensor, and this case needs {} (SPEC §10)\nnote: write "
                         "them together as one .safetensors file",
                         path, fmt::join(names, ", "));
      return false;
    }
    if (!read_npy(file, &array, err, {.bf16_bits = opt.bf16_bits, .accept_shape = accept_shape})) return false;
    return layout_to_bshd(opt.layout, array.shape, array.values, dims, path, out, err);
  }
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
  const auto at_name = [&](const std::string& name) {
    std::size_t at = 0;
    while (at < index.tensors.size() && index.tensors[at].name != name) ++at;
    return at;
  };
  // "out", or with no extra tensor asked for, the only tensor.
  std::size_t at = at_name("out");
  if (at == index.tensors.size() && (!needs_safetensors && index.tensors.size() == 1)) at = 0;
  if (at == index.tensors.size()) {
    std::vector<std::string> names;
    for (const NamedArray& t : index.tensors) names.push_back("'" + t.name + "'");
    *err = index.tensors.empty() ? fmt::format("{}: error: the file holds no tensor", path)
           : needs_safetensors   ? fmt::format("{}: error: the file holds no tensor 'out' (it holds {})\nnote: the output "
                                               "is judged with the gradients; name it 'out'",
                                               path, fmt::join(names, ", "))
                                 : fmt::format("{}: error: the file holds {} tensors ({}) and none is named 'out'\nnote: "
                                               "name the output tensor 'out', or write it alone",
                                               path, index.tensors.size(), fmt::join(names, ", "));
    return false;
  }
  if (!accept_shape(index.tensors[at].array.shape, err) || !read_safetensors_tensor(file, index, at, &array, err) ||
      !layout_to_bshd(opt.layout, array.shape, array.values, dims, path, out, err))
    return false;
  for (std::size_t e = 0; e < extra.size(); ++e) {
    const ExtraTensor& t = extra[e];
    const std::size_t i = at_name(t.name);
    if (i == index.tensors.size()) {
      if (!t.required) continue;
      *err = fmt::format("{}: error: the file holds no tensor '{}', which this case needs (SPEC §10)", path, t.name);
      return false;
    }
    const std::vector<std::int64_t>& shape = index.tensors[i].array.shape;
    if (t.shape.size() == 4) {
      const Index4 d{t.shape[0], t.shape[1], t.shape[2], t.shape[3]};
      const std::string what = fmt::format("{} (tensor '{}')", path, t.name);
      if (!accept_shape_of(d, what)(shape, err) || !read_safetensors_tensor(file, index, i, &array, err) ||
          !layout_to_bshd(opt.layout, array.shape, array.values, d, what, &(*found)[e], err))
        return false;
      continue;
    }
    if (shape != t.shape) {
      *err = fmt::format("{}: error: tensor '{}' has shape [{}], expected [{}]", path, t.name, fmt::join(shape, ", "),
                         fmt::join(t.shape, ", "));
      return false;
    }
    if (!read_safetensors_tensor(file, index, i, &array, err)) return false;
    (*found)[e] = std::move(array.values);
  }
  return true;
}

}  // namespace attn
