// .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// The header is a Python dict literal, parsed here by a small recursive-descent reader that accepts
// what NumPy writes (and py2's `5L`) and names whatever else it meets.
#include "src/io/npy.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"

namespace attn {

// --- Element codecs ------------------------------------------------------------------------------

std::string_view array_dtype_name(ArrayDType t) {
  switch (t) {
    case ArrayDType::f16: return "f16";
    case ArrayDType::bf16: return "bf16";
    case ArrayDType::f32: return "f32";
    case ArrayDType::f64: return "f64";
  }
  return "?";
}

std::size_t array_itemsize(ArrayDType t) {
  switch (t) {
    case ArrayDType::f16:
    case ArrayDType::bf16: return 2;
    case ArrayDType::f32: return 4;
    case ArrayDType::f64: return 8;
  }
  return 0;
}

std::optional<std::int64_t> element_count(std::span<const std::int64_t> shape) {
  // An overflowing prefix is refused even when a later entry is 0: no real array has that shape.
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return std::nullopt;
    n *= d;
  }
  return n;
}

namespace {

// A binary floating format with `mant` stored mantissa bits and `exp_bits` exponent bits.
double decode_binary(std::uint32_t bits, int mant, int exp_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const std::uint32_t e = (bits >> mant) & ((1u << exp_bits) - 1);
  const std::uint32_t m = bits & ((1u << mant) - 1);
  double v;
  if (e == (1u << exp_bits) - 1) v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (e == 0) v = std::ldexp(static_cast<double>(m), 1 - bias - mant);
  else v = std::ldexp(static_cast<double>(m | (1u << mant)), static_cast<int>(e) - bias - mant);
  return std::copysign(v, (bits >> (mant + exp_bits)) & 1 ? -1.0 : 1.0);
}

std::uint32_t encode_binary(double x, int mant, int exp_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1;
  const std::uint32_t sign = std::signbit(x) ? 1u << (mant + exp_bits) : 0u;
  const std::uint32_t inf = ((1u << exp_bits) - 1) << mant;
  if (std::isnan(x)) return sign | inf | (1u << (mant - 1));
  const double a = std::fabs(x);
  if (a == 0) return sign;
  if (std::isinf(a) || std::ilogb(a) > bias) return sign | inf;
  // Scale so one unit is the last place at a's exponent (clamped at the subnormal exponent); scaling
  // by a power of two is exact, so the only rounding is the one below.
  const int e = std::max(std::ilogb(a), 1 - bias);
  const double scaled = std::ldexp(a, mant - e);
  double q = std::floor(scaled);
  const double rem = scaled - q;
  if (rem > 0.5 || (rem == 0.5 && std::fmod(q, 2.0) != 0)) q += 1;
  // q is the significand with its implicit bit (absent for subnormals, where e + bias == 1), so the
  // sum below is the encoding, and a carry out of the mantissa bumps the exponent, up to Inf.
  const std::uint64_t bits =
      (static_cast<std::uint64_t>(e + bias) << mant) + static_cast<std::uint64_t>(q) - (std::uint64_t{1} << mant);
  return sign | static_cast<std::uint32_t>(bits);
}

std::uint64_t load_le(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

void store_le(std::string* out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

double decode_f16(std::uint16_t bits) { return decode_binary(bits, 10, 5); }
std::uint16_t encode_f16(double x) { return static_cast<std::uint16_t>(encode_binary(x, 10, 5)); }
double decode_bf16(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }
std::uint16_t encode_bf16(double x) { return static_cast<std::uint16_t>(encode_binary(x, 7, 8)); }

void decode_le(ArrayDType t, std::string_view bytes, std::vector<double>* out) {
  const std::size_t size = array_itemsize(t), n = bytes.size() / size;
  out->resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t u = load_le(bytes.data() + i * size, size);
    switch (t) {
      case ArrayDType::f16: (*out)[i] = decode_f16(static_cast<std::uint16_t>(u)); break;
      case ArrayDType::bf16: (*out)[i] = decode_bf16(static_cast<std::uint16_t>(u)); break;
      case ArrayDType::f32: (*out)[i] = std::bit_cast<float>(static_cast<std::uint32_t>(u)); break;
      case ArrayDType::f64: (*out)[i] = std::bit_cast<double>(u); break;
    }
  }
}

void encode_le(ArrayDType t, std::span<const double> values, std::string* out) {
  out->reserve(out->size() + values.size() * array_itemsize(t));
  for (double v : values) {
    switch (t) {
      case ArrayDType::f16: store_le(out, encode_f16(v), 2); break;
      case ArrayDType::bf16: store_le(out, encode_bf16(v), 2); break;
      case ArrayDType::f32: store_le(out, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4); break;
      case ArrayDType::f64: store_le(out, std::bit_cast<std::uint64_t>(v), 8); break;
    }
  }
}

// --- Header literal ------------------------------------------------------------------------------

namespace {

// One value of the header dict: a quoted string, a bare word (True, 3, 2.5, -1, None), or a
// tuple/list of values.
struct Literal {
  enum class Kind { string, word, sequence } kind = Kind::word;
  std::string text;  // the string's contents or the word
  std::vector<Literal> items;
};

class HeaderParser {
 public:
  explicit HeaderParser(std::string_view s) : s_(s) {}

  bool dict(std::vector<std::pair<std::string, Literal>>* out, std::string* why) {
    if (!expect('{', why)) return false;
    while (true) {
      skip_space();
      if (peek() == '}') break;
      Literal key, value;
      if (!literal(&key, 0, why)) return false;
      if (key.kind != Literal::Kind::string) return fail(fmt::format("key {} is not a string", key.text), why);
      if (!expect(':', why) || !literal(&value, 0, why)) return false;
      out->emplace_back(key.text, std::move(value));
      skip_space();
      if (peek() == ',') ++i_;
      else if (peek() != '}') return fail("expected ',' or '}'", why);
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) return fail("unexpected text after the closing '}'", why);
    return true;
  }

 private:
  // Sequences nest at most this deep: a shape never nests, and a fuzzed header must not recurse
  // the stack away.
  static constexpr int kMaxDepth = 8;

  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool fail(const std::string& what, std::string* why) {
    *why = fmt::format("{} at offset {} of the header", what, i_);
    return false;
  }
  bool expect(char c, std::string* why) {
    skip_space();
    if (peek() != c) return fail(fmt::format("expected '{}'", c), why);
    ++i_;
    return true;
  }

  bool literal(Literal* out, int depth, std::string* why) {
    skip_space();
    const char c = peek();
    if (c == '\'' || c == '"') {
      out->kind = Literal::Kind::string;
      for (++i_; i_ < s_.size() && s_[i_] != c; ++i_) {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        out->text += s_[i_];
      }
      if (i_ >= s_.size()) return fail("unterminated string", why);
      ++i_;
      return true;
    }
    if (c == '(' || c == '[') {
      if (depth >= kMaxDepth) return fail("values nested too deeply", why);
      const char close = c == '(' ? ')' : ']';
      out->kind = Literal::Kind::sequence;
      out->text = c;
      ++i_;
      while (true) {
        skip_space();
        if (peek() == close) break;
        Literal item;
        if (!literal(&item, depth + 1, why)) return false;
        out->items.push_back(std::move(item));
        skip_space();
        if (peek() == ',') ++i_;
        else if (peek() != close) return fail(fmt::format("expected ',' or '{}'", close), why);
      }
      ++i_;
      return true;
    }
    const std::size_t begin = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || std::strchr("_.+-", s_[i_]))) ++i_;
    if (i_ == begin) {
      return fail(c == '\0' ? std::string("unexpected end of header")
                            : fmt::format("unexpected character '{}'", std::string(1, c)), why);
    }
    out->kind = Literal::Kind::word;
    out->text = std::string(s_.substr(begin, i_ - begin));
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::string shape_text(std::span<const std::int64_t> shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// One shape entry: digits, optionally followed by py2's long suffix.
bool parse_dim(const Literal& lit, std::int64_t* out, std::string* why) {
  if (lit.kind != Literal::Kind::word) {
    *why = fmt::format("shape entry {} is not an integer", lit.kind == Literal::Kind::string ? "'" + lit.text + "'" : "(...)");
    return false;
  }
  std::string_view t = lit.text;
  if (t.size() > 1 && t.back() == 'L') t.remove_suffix(1);
  const bool negative = !t.empty() && t[0] == '-';
  std::string_view digits = negative ? t.substr(1) : t;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *why = fmt::format("shape entry '{}' is not an integer", lit.text);
    return false;
  }
  if (negative) {
    *why = fmt::format("shape entry {} is negative", lit.text);
    return false;
  }
  std::int64_t v = 0;
  for (char c : digits) {
    if (v > (std::numeric_limits<std::int64_t>::max() - (c - '0')) / 10) {
      *why = fmt::format("shape entry {} does not fit in a 64-bit integer", lit.text);
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Maps a descr such as '<f4' to an element type, or explains why it cannot be read.
bool parse_descr(const std::string& descr, const NpyReadOptions& opt, ArrayDType* out, std::string* why) {
  const std::string supported = "supported: '<f2', '<f4', '<f8' (and '<u2'/'<i2' holding bf16 bits, with --bf16-bits)";
  if (descr.size() != 3 || !std::strchr("<>|=!", descr[0])) {
    *why = fmt::format("unsupported dtype '{}'; {}", descr, supported);
    return false;
  }
  const std::string type = descr.substr(1);
  if (type == "f2") *out = ArrayDType::f16;
  else if (type == "f4") *out = ArrayDType::f32;
  else if (type == "f8") *out = ArrayDType::f64;
  else if ((type == "u2" || type == "i2") && opt.bf16_bits) *out = ArrayDType::bf16;
  else if (type == "u2" || type == "i2") {
    *why = fmt::format("unsupported dtype '{}'; to read 16-bit integers as bf16 bit patterns pass --bf16-bits", descr);
    return false;
  } else {
    *why = fmt::format("unsupported dtype '{}'; {}", descr, supported);
    return false;
  }
  const bool big = descr[0] == '>' || descr[0] == '!' || (descr[0] == '=' && std::endian::native == std::endian::big);
  if (big) {
    *why = fmt::format("big-endian data ('{}') is not supported; save with dtype '<{}'", descr, type);
    return false;
  }
  return true;
}

}  // namespace

// --- Reading -------------------------------------------------------------------------------------

namespace {

// Longer headers are not ones NumPy writes (it refuses to read past 10000 bytes by default).
constexpr std::uint64_t kMaxNpyHeader = 1 << 20;

// What a header says, checked against the size of the whole file: the data is [data_offset,
// file_size) and holds exactly the shape's elements.
struct NpyHeader {
  std::vector<std::int64_t> shape;
  ArrayDType dtype = ArrayDType::f64;
  std::uint64_t data_offset = 0, count = 0;
};

// `bytes` is the start of a file of `file_size` bytes: all of it, or at least its first
// kMaxNpyHeader + 12 bytes.
bool parse_npy_header(std::string_view bytes, std::uint64_t file_size, const std::string& name, NpyHeader* out,
                      std::string* err, const NpyReadOptions& opt) {
  auto fail = [&](const std::string& msg) {
    // Messages quote header bytes, which may be anything: escaped so that the message prints
    // safely and fits in a JSON report (whose writer throws on invalid UTF-8).
    *err = fmt::format("{}: error: {}", name, printable(msg, /*ascii_only=*/true));
    return false;
  };
  static constexpr std::string_view kMagic = "\x93NUMPY";
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic)
    return fail("not an .npy file (bad magic; expected \\x93NUMPY)");
  if (bytes.size() < 8) return fail("truncated header: the file ends inside the format version");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    return fail(fmt::format("unsupported .npy format version {}.{}; supported: 1.0, 2.0, 3.0", major, minor));
  const std::size_t len_size = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_size) return fail("truncated header: the file ends inside the header length");
  const std::uint64_t header_len = load_le(bytes.data() + 8, len_size);
  const std::size_t header_begin = 8 + len_size;
  if (header_len > file_size - header_begin)
    return fail(fmt::format("header length {} (from byte {}) runs past the end of the file ({} bytes)", header_len,
                            header_begin, file_size));
  if (header_len > kMaxNpyHeader || header_len > bytes.size() - header_begin)
    return fail(fmt::format("header length {} is absurd (at most {} bytes); not an array NumPy writes", header_len,
                            kMaxNpyHeader));
  const std::string_view header = bytes.substr(header_begin, header_len);

  std::vector<std::pair<std::string, Literal>> dict;
  std::string why;
  if (!HeaderParser(header).dict(&dict, &why)) return fail("malformed header dict: " + why);
  const Literal *descr = nullptr, *fortran = nullptr, *shape_lit = nullptr;
  for (const auto& [key, value] : dict) {
    const Literal** slot = key == "descr" ? &descr : key == "fortran_order" ? &fortran : key == "shape" ? &shape_lit : nullptr;
    if (!slot) return fail(fmt::format("malformed header dict: unexpected key '{}'", key));
    if (*slot) return fail(fmt::format("malformed header dict: key '{}' appears twice", key));
    *slot = &value;
  }
  for (auto [key, lit] : {std::pair{"descr", descr}, {"fortran_order", fortran}, {"shape", shape_lit}})
    if (!lit) return fail(fmt::format("malformed header dict: no '{}' key", key));

  if (descr->kind != Literal::Kind::string)
    return fail("structured dtypes are not supported; save a plain array of '<f2', '<f4' or '<f8'");
  ArrayDType dtype;
  if (!parse_descr(descr->text, opt, &dtype, &why)) return fail(why);
  if (fortran->kind != Literal::Kind::word || (fortran->text != "True" && fortran->text != "False"))
    return fail("malformed header dict: 'fortran_order' is not True or False");
  if (fortran->text == "True")
    return fail("fortran_order True (column-major) arrays are not supported; save np.ascontiguousarray(a)");
  if (shape_lit->kind != Literal::Kind::sequence) return fail("malformed header dict: 'shape' is not a tuple");

  std::vector<std::int64_t> shape;
  for (const Literal& lit : shape_lit->items) {
    std::int64_t d;
    if (!parse_dim(lit, &d, &why)) return fail(why);
    shape.push_back(d);
  }
  const std::optional<std::int64_t> count = element_count(shape);
  if (!count) return fail(fmt::format("shape {} has more elements than fit in a 64-bit integer", shape_text(shape)));
  // Compare by division: count * itemsize itself may overflow for a lying header.
  const std::size_t itemsize = array_itemsize(dtype);
  const std::uint64_t data_begin = header_begin + header_len, data_size = file_size - data_begin;
  const std::uint64_t need_items = static_cast<std::uint64_t>(*count);
  if (need_items > data_size / itemsize) {
    return fail(fmt::format("truncated data: shape {} of '{}' needs {} elements of {} bytes but the file holds {} bytes",
                            shape_text(shape), descr->text, *count, itemsize, data_size));
  }
  if (need_items * itemsize != data_size) {
    return fail(fmt::format("{} trailing bytes after the data: shape {} of '{}' needs {} bytes, the file holds {}",
                            data_size - need_items * itemsize, shape_text(shape), descr->text,
                            need_items * itemsize, data_size));
  }
  if (opt.accept_shape && !opt.accept_shape(shape, err)) return false;
  *out = {std::move(shape), dtype, data_begin, need_items};
  return true;
}

}  // namespace

bool parse_npy(std::string_view bytes, const std::string& name, Array* out, std::string* err,
               const NpyReadOptions& opt) {
  NpyHeader h;
  if (!parse_npy_header(bytes, bytes.size(), name, &h, err, opt)) return false;
  out->shape = std::move(h.shape);
  out->dtype = h.dtype;
  decode_le(h.dtype, bytes.substr(h.data_offset), &out->values);
  return true;
}

bool read_npy(const InputFile& file, Array* out, std::string* err, const NpyReadOptions& opt) {
  std::string bytes;
  if (!file.read(0, std::min<std::uint64_t>(file.size(), kMaxNpyHeader + 12), &bytes, err)) return false;
  NpyHeader h;
  if (!parse_npy_header(bytes, file.size(), file.path(), &h, err, opt)) return false;
  if (!file.read(h.data_offset, file.size() - h.data_offset, &bytes, err)) return false;
  out->shape = std::move(h.shape);
  out->dtype = h.dtype;
  decode_le(h.dtype, bytes, &out->values);
  return true;
}

bool read_npy(const std::string& path, Array* out, std::string* err, const NpyReadOptions& opt) {
  InputFile file;
  return file.open(path, err) && read_npy(file, out, err, opt);
}

// --- Writing -------------------------------------------------------------------------------------

namespace {

bool write_npy(const std::string& path, const std::vector<std::int64_t>& shape, std::string_view descr,
               std::size_t count, const std::string& data, std::string* err) {
  const std::optional<std::int64_t> n = element_count(shape);
  if (!n || static_cast<std::uint64_t>(*n) != count) {
    *err = fmt::format("{}: error: cannot write shape {} with {} values", path, shape_text(shape), count);
    return false;
  }
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape_text(shape));
  // NumPy pads so the data starts on a 64-byte boundary, and ends the header with a newline.
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const std::size_t prefix = v2 ? 12 : 10;
  dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
  dict += '\n';
  std::string file = "\x93NUMPY";
  file += static_cast<char>(v2 ? 2 : 1);
  file += '\0';
  store_le(&file, dict.size(), v2 ? 4 : 2);
  file += dict;
  file += data;
  return write_file_atomic(path, file, err);
}

}  // namespace

bool write_npy_f32(const std::string& path, const std::vector<std::int64_t>& shape, std::span<const float> data,
                   std::string* err) {
  std::string bytes;
  bytes.reserve(data.size() * 4);
  for (float v : data) store_le(&bytes, std::bit_cast<std::uint32_t>(v), 4);
  return write_npy(path, shape, "<f4", data.size(), bytes, err);
}

bool write_npy_f64(const std::string& path, const std::vector<std::int64_t>& shape, std::span<const double> data,
                   std::string* err) {
  std::string bytes;
  encode_le(ArrayDType::f64, data, &bytes);
  return write_npy(path, shape, "<f8", data.size(), bytes, err);
}

}  // namespace attn
