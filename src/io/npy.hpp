// Reading and writing NumPy .npy files (SPEC §8): the candidate outputs and the dumped inputs.
// A file comes from outside the harness, so every field of it is checked before it is believed,
// and a header that lies about its size never makes us allocate. The element codecs at the end are
// shared with src/io/safetensors.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

/// Element type as stored in a file.
enum class ArrayDType { f16, bf16, f32, f64 };

/// An n-d array read from a file, values widened (exactly) to double.
struct Array {
  std::vector<std::int64_t> shape;
  ArrayDType dtype = ArrayDType::f64;
  std::vector<double> values;  // row-major (C order)
};

struct NpyReadOptions {
  /// Read '<u2'/'<i2' as raw bf16 bit patterns (NumPy has no bf16, so bf16 tensors are saved as
  /// their 16-bit integer views). Off by default: an integer file is more likely a mistake.
  bool bf16_bits = false;
  /// Called with the header's shape before any data is read (the caller knows the shape it
  /// expects), so a header declaring 6 GB is an error, not an allocation: false stops the read with
  /// the callback's *err.
  std::function<bool(const std::vector<std::int64_t>& shape, std::string* err)> accept_shape;
};

class InputFile;  // src/base/fileio.hpp

/// Reads an .npy file (format 1.0, 2.0 or 3.0; '<f2', '<f4', '<f8', or bf16 bits). On failure
/// returns false and sets *err to "path: error: ...". Only a regular file is read (src/base/fileio.hpp),
/// and only after its header is checked against the file's size and opt.max_elements.
bool read_npy(const std::string& path, Array* out, std::string* err, const NpyReadOptions& opt = {});
/// The same on a file already open (e.g. after looking at its first bytes).
bool read_npy(const InputFile& file, Array* out, std::string* err, const NpyReadOptions& opt = {});

/// read_npy on bytes already in memory; `name_for_errors` starts every message.
bool parse_npy(std::string_view bytes, const std::string& name_for_errors, Array* out, std::string* err,
               const NpyReadOptions& opt = {});

/// Write a C-ordered little-endian array (format 1.0, or 2.0 if the header needs it) through a
/// temporary file and a rename. The product of `shape` must equal data.size().
bool write_npy_f32(const std::string& path, const std::vector<std::int64_t>& shape, std::span<const float> data,
                   std::string* err);
bool write_npy_f64(const std::string& path, const std::vector<std::int64_t>& shape, std::span<const double> data,
                   std::string* err);

// --- Element codecs, shared by the array file formats ------------------------------------------

std::string_view array_dtype_name(ArrayDType t);  // "f16", "bf16", "f32", "f64"
std::size_t array_itemsize(ArrayDType t);

/// Number of elements of an array of this shape; nullopt if an entry is negative or the product
/// does not fit in int64.
std::optional<std::int64_t> element_count(std::span<const std::int64_t> shape);

/// IEEE binary16 <-> double. Decoding is exact (subnormals, ±Inf, NaN). Encoding rounds to nearest,
/// ties to even, straight from double (no double rounding through float); past 65504 it overflows
/// to ±Inf, NaN becomes a quiet NaN with the same sign.
double decode_f16(std::uint16_t bits);
std::uint16_t encode_f16(double x);

/// bf16 <-> double with the same rules. For float inputs encode_bf16 agrees with attn::bf16_bits
/// except in NaN payloads; it exists so double inputs are rounded once, not twice.
double decode_bf16(std::uint16_t bits);
std::uint16_t encode_bf16(double x);

/// Decodes little-endian elements; bytes.size() must be a multiple of the item size.
void decode_le(ArrayDType t, std::string_view bytes, std::vector<double>* out);
/// Appends values converted to t (rounded to nearest even) as little-endian bytes.
void encode_le(ArrayDType t, std::span<const double> values, std::string* out);

}  // namespace attn
