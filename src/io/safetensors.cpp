// Format reference: https://github.com/huggingface/safetensors (README, and `validate` in
// safetensors/src/tensor.rs, whose rules are mirrored here: header at most 100 MB, tensors exactly
// tiling the data buffer with no gap, overlap or trailing byte).
#include "src/io/safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"

namespace attn {

namespace {

using nlohmann::json;

// The reference reader refuses larger headers; past this the file is not a safetensors file.
constexpr std::uint64_t kMaxHeader = 100'000'000;

std::string_view st_name(ArrayDType t) {
  switch (t) {
    case ArrayDType::f16: return "F16";
    case ArrayDType::bf16: return "BF16";
    case ArrayDType::f32: return "F32";
    case ArrayDType::f64: return "F64";
  }
  return "?";
}

std::optional<ArrayDType> st_dtype(std::string_view name) {
  for (ArrayDType t : {ArrayDType::f64, ArrayDType::f32, ArrayDType::f16, ArrayDType::bf16})
    if (st_name(t) == name) return t;
  return std::nullopt;
}

struct Entry {
  std::string name;
  ArrayDType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;
};

// Checks one tensor's entry against the data buffer's size; `why` gets the message without prefix.
bool parse_entry(const std::string& name, const json& v, std::uint64_t data_size, Entry* out, std::string* why) {
  auto bad = [&](std::string msg) {
    *why = std::move(msg);
    return false;
  };
  if (!v.is_object()) return bad("entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) return bad(fmt::format("entry has no '{}'", key));
  const json& dtype = v["dtype"];
  if (!dtype.is_string()) return bad("'dtype' is not a string");
  const std::optional<ArrayDType> t = st_dtype(dtype.get<std::string>());
  if (!t) return bad(fmt::format("unsupported dtype '{}'; supported: F64, F32, F16, BF16", dtype.get<std::string>()));

  const json& shape = v["shape"];
  if (!shape.is_array()) return bad("'shape' is not an array");
  std::vector<std::int64_t> dims;
  for (const json& d : shape) {
    if (!d.is_number_integer()) return bad(fmt::format("shape entry {} is not an integer", d.dump()));
    if (d.is_number_unsigned() ? d.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) : d.get<std::int64_t>() < 0)
      return bad(fmt::format("shape entry {} is {}", d.dump(), d.is_number_unsigned() ? "too large" : "negative"));
    dims.push_back(d.get<std::int64_t>());
  }
  const std::optional<std::int64_t> count = element_count(dims);
  if (!count) return bad(fmt::format("shape [{}] has more elements than fit in a 64-bit integer", fmt::join(dims, ", ")));

  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    return bad(fmt::format("'data_offsets' must be [begin, end] with non-negative integers, not {}", offsets.dump()));
  const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
  if (end < begin) return bad(fmt::format("data_offsets [{}, {}] end before they begin", begin, end));
  if (end > data_size)
    return bad(fmt::format("data_offsets [{}, {}] run past the data buffer ({} bytes)", begin, end, data_size));
  // Compare by division: count * itemsize itself may overflow for a lying header.
  const std::uint64_t bytes = end - begin, itemsize = array_itemsize(*t), n = static_cast<std::uint64_t>(*count);
  if (bytes % itemsize != 0 || bytes / itemsize != n) {
    return bad(fmt::format("data_offsets [{}, {}] hold {} bytes, but shape [{}] of {} needs {} elements of {} bytes",
                           begin, end, bytes, fmt::join(dims, ", "), st_name(*t), n, itemsize));
  }
  *out = {name, *t, std::move(dims), begin, end};
  return true;
}

}  // namespace

namespace {

// The header at the start of `bytes` (all of a file of `file_size` bytes, or at least its first
// 8 + header length bytes), checked against the file's size: every tensor's dtype, shape and byte
// range, in the order of their data, with no value read.
bool parse_header(std::string_view bytes, std::uint64_t file_size, const std::string& file,
                  SafetensorsIndex* out, std::string* err) {
  auto fail = [&](const std::string& msg) {  // tensor names may hold control characters
    *err = fmt::format("{}: error: {}", file, printable(msg));
    return false;
  };
  if (bytes.size() < 8)
    return fail(fmt::format("too short for a safetensors file ({} bytes; the header length alone takes 8)", bytes.size()));
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > kMaxHeader)
    return fail(fmt::format("header length {} is absurd (at most {} bytes); not a safetensors file?", n, kMaxHeader));
  if (n > file_size - 8 || n > bytes.size() - 8)
    return fail(fmt::format("header length {} runs past the end of the file ({} bytes)", n, file_size));

  JsonError json_err;  // NUL bytes, duplicate tensor names, too deep (dump() in the messages below recurses)
  const std::optional<json> parsed = parse_json_strict(bytes.substr(8, n), &json_err);
  if (!parsed) return fail("malformed JSON header: " + json_err.at_byte(8));
  const json& header = *parsed;
  if (!header.is_object()) return fail("the JSON header is not an object");

  const std::uint64_t data_size = file_size - 8 - n;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      const bool strings = value.is_object() && std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); });
      if (!strings) return fail("'__metadata__' must be an object whose values are strings");
      continue;
    }
    Entry e;
    std::string why;
    if (!parse_entry(name, value, data_size, &e, &why)) return fail(fmt::format("tensor '{}': {}", name, why));
    entries.push_back(std::move(e));
  }

  // The tensors must tile the buffer exactly, as the reference reader requires.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < expected)
      return fail(fmt::format("tensors '{}' and '{}' overlap in the data buffer", entries[i - 1].name, e.name));
    if (e.begin > expected)
      return fail(fmt::format("bytes [{}, {}) of the data buffer belong to no tensor (gap before '{}')", expected, e.begin, e.name));
    expected = e.end;
  }
  if (expected != data_size)
    return fail(fmt::format("{} trailing bytes after the last tensor's data", data_size - expected));

  *out = {};
  for (Entry& e : entries) {
    out->tensors.push_back({std::move(e.name), {std::move(e.shape), e.dtype, {}}});
    out->ranges.emplace_back(8 + n + e.begin, 8 + n + e.end);
  }
  return true;
}

}  // namespace

bool parse_safetensors(std::string_view bytes, const std::string& file, std::vector<NamedArray>* out,
                       std::string* err) {
  SafetensorsIndex index;
  if (!parse_header(bytes, bytes.size(), file, &index, err)) return false;
  for (std::size_t i = 0; i < index.tensors.size(); ++i) {
    const auto [begin, end] = index.ranges[i];
    Array& a = index.tensors[i].array;
    decode_le(a.dtype, bytes.substr(begin, end - begin), &a.values);
  }
  *out = std::move(index.tensors);
  return true;
}

bool read_safetensors_index(const InputFile& f, SafetensorsIndex* out, std::string* err) {
  std::string head;
  if (!f.read(0, std::min<std::uint64_t>(f.size(), 8), &head, err)) return false;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < head.size(); ++i) n |= std::uint64_t(static_cast<unsigned char>(head[i])) << (8 * i);
  // Read the header only when its length is believable; parse_header names whatever is wrong.
  if (head.size() == 8 && n <= kMaxHeader && n <= f.size() - 8 && !f.read(0, 8 + n, &head, err)) return false;
  return parse_header(head, f.size(), f.path(), out, err);
}

bool read_safetensors_tensor(const InputFile& f, const SafetensorsIndex& index, std::size_t i, Array* out,
                             std::string* err) {
  const Array& a = index.tensors[i].array;
  const auto [begin, end] = index.ranges[i];
  std::string bytes;
  if (!f.read(begin, end - begin, &bytes, err)) return false;
  *out = {a.shape, a.dtype, {}};
  decode_le(a.dtype, bytes, &out->values);
  return true;
}

bool read_safetensors(const std::string& path, std::vector<NamedArray>* out, std::string* err) {
  InputFile f;
  SafetensorsIndex index;
  if (!f.open(path, err) || !read_safetensors_index(f, &index, err)) return false;
  for (std::size_t i = 0; i < index.tensors.size(); ++i)
    if (!read_safetensors_tensor(f, index, i, &index.tensors[i].array, err)) return false;
  *out = std::move(index.tensors);
  return true;
}

bool write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors, std::string* err,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  auto fail = [&](const std::string& msg) {
    *err = fmt::format("{}: error: {}", path, msg);
    return false;
  };
  std::set<std::string> names;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__") return fail("'__metadata__' is reserved and cannot name a tensor");
    if (!names.insert(t.name).second) return fail(fmt::format("two tensors are named '{}'", t.name));
    const std::optional<std::int64_t> n = element_count(t.shape);
    if (!n || static_cast<std::uint64_t>(*n) != t.values.size())
      return fail(fmt::format("tensor '{}': cannot write shape [{}] with {} values", t.name, fmt::join(t.shape, ", "), t.values.size()));
  }
  std::vector<const TensorToWrite*> order;
  for (const TensorToWrite& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    return array_itemsize(a->dtype) > array_itemsize(b->dtype);
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::string data;
  for (const TensorToWrite* t : order) {
    const std::size_t begin = data.size();
    encode_le(t->dtype, t->values, &data);
    header[t->name] = {{"dtype", st_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    return fail("a tensor name is not valid UTF-8");
  }
  // Padding with spaces keeps the data buffer 8-byte aligned; the format allows trailing spaces.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string file;
  file.reserve(8 + text.size() + data.size());
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xFF));
  file += text;
  file += data;
  return write_file_atomic(path, file, err);
}

}  // namespace attn
