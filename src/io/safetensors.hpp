// Reading and writing .safetensors files (SPEC §8): candidate outputs and `dump --format
// safetensors`. Layout: an 8-byte little-endian header length N, N bytes of JSON naming each
// tensor's dtype, shape and byte range, then the data buffer. Checked as strictly as the reference
// implementation (huggingface/safetensors) checks it, so a file we accept loads there too.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/io/npy.hpp"

namespace attn {

struct NamedArray {
  std::string name;
  Array array;
};

/// Reads every tensor of a file (F64, F32, F16, BF16), in the order of their data in the file.
/// "__metadata__" is checked (an object of strings) and dropped. On failure returns false and sets
/// *err to "path: error: ...".
bool read_safetensors(const std::string& path, std::vector<NamedArray>* out, std::string* err);

/// read_safetensors on bytes already in memory; `name_for_errors` starts every message.
bool parse_safetensors(std::string_view bytes, const std::string& name_for_errors, std::vector<NamedArray>* out,
                       std::string* err);

/// The tensors of a file (dtype and shape, no values yet) and each one's byte range in the file,
/// checked as parse_safetensors checks them: the header against the file's size, before any data
/// is read.
struct SafetensorsIndex {
  std::vector<NamedArray> tensors;  // values empty
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
};
/// Reads and checks the header of an open file (src/base/fileio.hpp); at most 8 + 100 MB are read.
bool read_safetensors_index(const InputFile& f, SafetensorsIndex* out, std::string* err);
/// Reads tensor i's values (check its shape in the index first: this reads all its bytes).
bool read_safetensors_tensor(const InputFile& f, const SafetensorsIndex& index, std::size_t i, Array* out,
                             std::string* err);

/// One tensor to write: values are converted to `dtype` (rounded to nearest even for BF16/F16).
struct TensorToWrite {
  std::string name;
  std::vector<std::int64_t> shape;
  ArrayDType dtype = ArrayDType::f32;
  std::span<const double> values;
};

/// Writes tensors through a temporary file and a rename. Names must be unique and not
/// "__metadata__"; the product of each shape must equal its number of values. Data is laid out
/// widest dtype first (stable otherwise), as the reference writer does, so every tensor is aligned
/// to its item size. `metadata` becomes the "__metadata__" object (written only when not empty).
bool write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors, std::string* err,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace attn
