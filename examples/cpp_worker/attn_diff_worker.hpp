// attn_diff_worker.hpp: a C or C++ attention kernel as an attn-diff candidate worker, in one header.
//
// attn-diff's `run --candidate-worker CMD` starts CMD once and sends it one request per case over the
// worker protocol `attn-diff.worker.v1` (JSON lines on stdin and stdout; attn-diff's SPEC §13,
// docs/workers.md). This header speaks it: copy it next to your kernel, write
//
//   #include "attn_diff_worker.hpp"
//   int main() {
//     return attn_diff_worker::serve("my-kernel", [](const attn_diff_worker::Case& c) {
//       attn_diff_worker::Tensor out({c.batch, c.tokens, c.heads, c.head_dim});
//       my_attention(c.q.data.data(), c.k.data.data(), ..., out.data.data());  // bshd, float32
//       return out;
//     });
//   }
//
// and run `attn-diff run --config configs/phase1.json --candidate-worker ./my_worker`. Per request it
// reads the case's dump directory (case.json, q/k/v[/sinks].npy float32, bshd), calls the kernel and
// writes its output as a float32 .npy. A kernel that throws makes that case an `error` (the
// exception's what()) and the worker serves the next case; throwing attn_diff_worker::Unsupported
// makes it `unsupported`. Whatever the kernel prints to stdout (printf, std::cout, write(1, ...))
// goes to stderr, the worker's log: the protocol keeps a private copy of fd 1.
//
// C++17 and the standard library, plus POSIX dup/dup2/read/write for the channel. No JSON or npy
// library: a small JSON reader and writer and a float32/float64 npy reader and a float32 writer are
// below, enough for the dump directories attn-diff writes (little-endian hosts).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace attn_diff_worker {

inline constexpr const char* kProtocol = "attn-diff.worker.v1";

/// Thrown by a kernel for a case it does not implement: the case is `unsupported`, not an error.
struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// JSON: a value tree, a strict reader (RFC 8259) and a writer of strings.

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string text;  // a string's value; a number's text as written (to echo an id unchanged)
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  /// The member `key` of an object, or nullptr.
  const Json* find(const std::string& key) const {
    if (type != Type::Object) return nullptr;
    for (const auto& [k, v] : members)
      if (k == key) return &v;
    return nullptr;
  }
  bool is_string() const { return type == Type::String; }
  bool is_number() const { return type == Type::Number; }
};

namespace detail {

class JsonReader {
 public:
  explicit JsonReader(const std::string& s) : s_(s) {}

  /// The one value of the text; throws std::runtime_error("... at offset N") on bad JSON.
  Json parse() {
    Json v = value(0);
    space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  const std::string& s_;
  std::size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("bad JSON: " + what + " at offset " + std::to_string(i_));
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(const char* word) {
    const std::size_t n = std::strlen(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  Json value(int depth) {
    if (depth > 64) fail("nesting too deep");
    space();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.type = Json::Type::Object;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
      for (;;) {
        space();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a member name");
        std::string key = string();
        space();
        if (i_ >= s_.size() || s_[i_] != ':') fail("expected ':'");
        ++i_;
        v.members.emplace_back(std::move(key), value(depth + 1));
        space();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, v;
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = Json::Type::Array;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
      for (;;) {
        v.items.push_back(value(depth + 1));
        space();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, v;
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = Json::Type::String;
      v.text = string();
      return v;
    }
    if (eat("true")) { v.type = Json::Type::Bool; v.boolean = true; return v; }
    if (eat("false")) { v.type = Json::Type::Bool; return v; }
    if (eat("null")) return v;
    return number();
  }
  Json number() {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ > from;
    };
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') ++i_;
    else if (!digits()) fail("expected a value");
    if (i_ < s_.size() && s_[i_] == '.') { ++i_; if (!digits()) fail("expected digits after '.'"); }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) fail("expected an exponent");
    }
    Json v;
    v.type = Json::Type::Number;
    v.text = s_.substr(start, i_ - start);
    std::istringstream in(v.text);
    in.imbue(std::locale::classic());
    in >> v.number;  // out of range leaves +-max; fine for the protocol's ids and the case's settings
    return v;
  }
  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    unsigned u = 0;
    for (int n = 0; n < 4; ++n) {
      const char h = s_[i_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
      else fail("bad \\u escape");
    }
    return u;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') { out += c; continue; }
      if (i_ >= s_.size()) fail("unterminated string");
      switch (s_[i_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            if (!eat("\\u")) fail("lone surrogate");
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("lone surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("lone surrogate");
          }
          utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }
};

}  // namespace detail

/// Parses one JSON text; throws std::runtime_error on bad JSON.
inline Json parse_json(const std::string& text) { return detail::JsonReader(text).parse(); }

/// `s` as a JSON string literal, quotes included.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------
// Tensors and .npy files.

/// A dense row-major float32 tensor: what a kernel reads (q, k, v, sinks) and returns.
struct Tensor {
  std::vector<std::size_t> shape;
  std::vector<float> data;

  Tensor() = default;
  /// A zero-filled tensor of this shape.
  explicit Tensor(std::vector<std::size_t> s) : shape(std::move(s)), data(count(shape), 0.0f) {}

  static std::size_t count(const std::vector<std::size_t>& s) {
    std::size_t n = 1;
    for (const std::size_t d : s) n *= d;
    return n;
  }
  std::size_t size() const { return data.size(); }
  bool empty() const { return shape.empty(); }
};

/// Reads a little-endian .npy file of float32 (<f4) or float64 (<f8, converted) in C order.
inline Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  auto bad = [&](const std::string& why) { return std::runtime_error(path + ": not a float32/float64 .npy file: " + why); };
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw bad("no NUMPY magic");
  std::size_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) throw bad("short header");
    header_len = b[0] | (std::size_t(b[1]) << 8);
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) throw bad("short header");
    header_len = b[0] | (std::size_t(b[1]) << 8) | (std::size_t(b[2]) << 16) | (std::size_t(b[3]) << 24);
  } else {
    throw bad("unknown version " + std::to_string(int(magic[6])));
  }
  if (header_len > (1u << 20)) throw bad("header too long");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), std::streamsize(header_len))) throw bad("short header");

  // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
  auto field = [&](const std::string& key) {
    const std::size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) throw bad("no '" + key + "' in the header");
    std::size_t p = header.find(':', k);
    if (p == std::string::npos) throw bad("bad header");
    ++p;
    while (p < header.size() && header[p] == ' ') ++p;
    return p;
  };
  std::size_t p = field("descr");
  const std::size_t q = header.find(header[p], p + 1);
  const std::string descr = header.substr(p + 1, q - p - 1);
  int width = 0;
  if (descr == "<f4" || descr == "=f4") width = 4;
  else if (descr == "<f8" || descr == "=f8") width = 8;
  else throw bad("dtype '" + descr + "'");
  if (header.compare(field("fortran_order"), 4, "True") == 0) throw bad("Fortran order");

  Tensor t;
  p = field("shape");
  if (header[p] != '(') throw bad("bad shape");
  const std::size_t close = header.find(')', p);
  std::string dims = header.substr(p + 1, close - p - 1);
  std::size_t at = 0;
  while (at < dims.size()) {
    while (at < dims.size() && (dims[at] == ' ' || dims[at] == ',')) ++at;
    if (at >= dims.size()) break;
    std::size_t used = 0;
    t.shape.push_back(std::stoull(dims.substr(at), &used));
    at += used;
  }
  const std::size_t n = Tensor::count(t.shape);
  t.data.resize(n);
  if (width == 4) {
    if (!in.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(n * 4))) throw bad("short data");
  } else {
    std::vector<double> d(n);
    if (!in.read(reinterpret_cast<char*>(d.data()), std::streamsize(n * 8))) throw bad("short data");
    for (std::size_t i = 0; i < n; ++i) t.data[i] = static_cast<float>(d[i]);
  }
  return t;
}

/// Writes `t` as a float32 .npy file (version 1.0, C order).
inline void write_npy(const std::string& path, const Tensor& t) {
  if (Tensor::count(t.shape) != t.data.size())
    throw std::runtime_error("the output's shape holds " + std::to_string(Tensor::count(t.shape)) + " elements but its data " +
                             std::to_string(t.data.size()));
  std::string dims;  // "2, 3", but "5," for one dimension (a Python tuple)
  for (std::size_t i = 0; i < t.shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(t.shape[i]);
  if (t.shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xFF), static_cast<unsigned char>(header.size() >> 8)};
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(reinterpret_cast<const char*>(len), 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(t.data.data()), std::streamsize(t.data.size() * sizeof(float)));
  out.close();
  if (!out) throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
}

// ---------------------------------------------------------------------------------------------
// The case a request names.

/// One case, read from its dump directory: the settings of case.json's cases[0] (SPEC §2) and the
/// inputs, bshd: q [B][Sq][H][D], k and v [B][Sk][Hkv][D], sinks [H] (empty when the case has none).
struct Case {
  std::string id;    // the request's id, as sent
  std::string name;  // the case's name
  std::string dir;   // the dump directory
  std::string out;   // the file serve() writes the kernel's output to
  std::string layout = "bshd";
  std::size_t batch = 1, tokens = 0, kv_tokens = 0, heads = 0, kv_heads = 0, head_dim = 0;
  long long q_offset = 0;  // query row i sits at absolute position q_offset + i
  long long window = 0;    // 0: no window
  bool causal = true;
  double scale = 0;
  std::string precision;
  std::size_t tile_q = 0, tile_kv = 0;
  Tensor q, k, v, sinks;
  Json settings;  // case.json's cases[0], for any other key
  Json request;   // the request as sent (extra fields included)

  bool has_sinks() const { return !sinks.empty(); }
};

namespace detail {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline const Json& member(const Json& obj, const std::string& key, Json::Type type, const std::string& where) {
  const Json* v = obj.find(key);
  if (!v || v->type != type) throw std::runtime_error(where + ": no " + (type == Json::Type::Number ? "number" : "value") + " '" + key + "'");
  return *v;
}

inline std::size_t count_of(const Json& obj, const std::string& key, const std::string& where) {
  const double d = member(obj, key, Json::Type::Number, where).number;
  if (d < 0 || d != std::floor(d)) throw std::runtime_error(where + ": '" + key + "' is not a count");
  return static_cast<std::size_t>(d);
}

inline void expect_shape(const Tensor& t, const std::vector<std::size_t>& want, const std::string& what) {
  if (t.shape != want) {
    auto str = [](const std::vector<std::size_t>& s) {
      std::string r = "[";
      for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
      return r + "]";
    };
    throw std::runtime_error(what + ": shape " + str(t.shape) + ", expected " + str(want));
  }
}

}  // namespace detail

/// Reads the case of a dump directory (npy format); throws std::runtime_error naming the file.
inline Case load_case(const std::string& dir) {
  const std::string path = dir + "/case.json";
  const Json doc = parse_json(detail::read_file(path));
  if (const Json* dump = doc.find("dump"))
    if (const Json* f = dump->find("format"); f && f->is_string() && f->text != "npy")
      throw std::runtime_error(dir + ": the dump is in '" + f->text + "' format; attn_diff_worker.hpp reads npy dumps");
  const Json* cases = doc.find("cases");
  if (!cases || cases->type != Json::Type::Array || cases->items.empty() || cases->items[0].type != Json::Type::Object)
    throw std::runtime_error(path + ": no cases[0]");
  Case c;
  c.dir = dir;
  c.settings = cases->items[0];
  const Json& s = c.settings;
  const std::string where = path + ": cases[0]";
  c.name = detail::member(s, "name", Json::Type::String, where).text;
  c.batch = detail::count_of(s, "batch", where);
  c.tokens = detail::count_of(s, "tokens", where);
  c.kv_tokens = detail::count_of(s, "kv_tokens", where);
  c.heads = detail::count_of(s, "heads", where);
  c.kv_heads = detail::count_of(s, "kv_heads", where);
  c.head_dim = detail::count_of(s, "head_dim", where);
  c.q_offset = static_cast<long long>(detail::member(s, "q_offset", Json::Type::Number, where).number);
  c.window = static_cast<long long>(detail::member(s, "window", Json::Type::Number, where).number);
  c.causal = detail::member(s, "causal", Json::Type::Bool, where).boolean;
  c.scale = detail::member(s, "scale", Json::Type::Number, where).number;
  if (const Json* p = s.find("precision"); p && p->is_string()) c.precision = p->text;
  if (const Json* t = s.find("tiles")) {
    if (const Json* tq = t->find("q"); tq && tq->is_number()) c.tile_q = static_cast<std::size_t>(tq->number);
    if (const Json* tk = t->find("kv"); tk && tk->is_number()) c.tile_kv = static_cast<std::size_t>(tk->number);
  }
  if (c.kv_heads == 0 || c.heads % c.kv_heads != 0) throw std::runtime_error(where + ": heads is not a multiple of kv_heads");
  c.q = read_npy(dir + "/q.npy");
  c.k = read_npy(dir + "/k.npy");
  c.v = read_npy(dir + "/v.npy");
  detail::expect_shape(c.q, {c.batch, c.tokens, c.heads, c.head_dim}, dir + "/q.npy");
  detail::expect_shape(c.k, {c.batch, c.kv_tokens, c.kv_heads, c.head_dim}, dir + "/k.npy");
  detail::expect_shape(c.v, {c.batch, c.kv_tokens, c.kv_heads, c.head_dim}, dir + "/v.npy");
  if (std::ifstream(dir + "/sinks.npy").good()) {
    c.sinks = read_npy(dir + "/sinks.npy");
    detail::expect_shape(c.sinks, {c.heads}, dir + "/sinks.npy");
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// The serve loop.

/// A kernel: the output of one case (bshd [B][Sq][H][D] unless attn-diff runs with another --layout).
using Kernel = std::function<Tensor(const Case&)>;

namespace detail {

/// The protocol's private ends of stdin and stdout; fd 1 then writes to stderr and fd 0 reads /dev/null.
class Channel {
 public:
  Channel() {
    out_ = ::dup(1);
    in_ = ::dup(0);
    if (out_ < 0 || in_ < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
    ::dup2(2, 1);       // from here on whatever the kernel writes to fd 1 lands in the log,
    std::cout.flush();  // what the program buffered before serve() included
    std::fflush(stdout);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) {
      ::dup2(null, 0);
      ::close(null);
    }
  }
  ~Channel() {
    std::cout.flush();
    std::fflush(stdout);
    ::dup2(out_, 1);
    ::dup2(in_, 0);
    ::close(out_);
    ::close(in_);
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// The next line without its '\n'; false at end of input.
  bool read_line(std::string& line) {
    for (;;) {
      const std::size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return true;
      }
      char chunk[65536];
      const ssize_t n = ::read(in_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // end of input: a last line without '\n' still counts
        if (buf_.empty()) return false;
        line = std::move(buf_);
        buf_.clear();
        return true;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Writes one reply line; false when attn-diff is gone.
  bool send(const std::string& json) {
    const std::string line = json + "\n";
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(out_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int out_ = -1, in_ = -1;
  std::string buf_;
};

inline void log(const std::string& msg) { std::fprintf(stderr, "attn_diff_worker: %s\n", msg.c_str()); }

/// The id of a line that is not JSON, when one can be read from it ("id": 12).
inline std::string scrape_id(const std::string& line) {
  std::size_t p = line.find("\"id\"");
  if (p == std::string::npos) return "";
  p = line.find_first_not_of(" \t", p + 4);
  if (p == std::string::npos || line[p] != ':') return "";
  p = line.find_first_not_of(" \t", p + 1);
  if (p == std::string::npos) return "";
  std::size_t e = p + (line[p] == '-');
  while (e < line.size() && line[e] >= '0' && line[e] <= '9') ++e;
  return e > p + (line[p] == '-') ? line.substr(p, e - p) : "";
}

inline std::string reply(const std::string& id, const char* key, const std::string& msg) {
  return "{\"id\": " + id + ", \"ok\": false, \"" + key + "\": " + json_string(msg) + "}";
}

inline std::string id_text(const Json& id) {
  if (id.is_number()) return id.text;
  if (id.is_string()) return json_string(id.text);
  return "null";
}

/// The reply to one request.
inline std::string answer(const Kernel& kernel, const Json& req) {
  const std::string id = id_text(*req.find("id"));
  const Json* inputs = req.find("inputs");
  const Json* out = req.find("out");
  if (!inputs || !inputs->is_string() || inputs->text.empty()) return reply(id, "error", "request " + id + ": error: no 'inputs' path in the request");
  if (!out || !out->is_string() || out->text.empty()) return reply(id, "error", "request " + id + ": error: no 'out' path in the request");
  Case c;
  try {
    c = load_case(inputs->text);
  } catch (const std::exception& e) {
    return reply(id, "error", e.what());
  }
  c.id = id;
  c.out = out->text;
  c.request = req;
  if (const Json* name = req.find("case"); name && name->is_string() && !name->text.empty()) c.name = name->text;
  if (const Json* layout = req.find("layout"); layout && layout->is_string()) c.layout = layout->text;
  try {
    const Tensor result = kernel(c);
    write_npy(c.out, result);
  } catch (const Unsupported& e) {
    return reply(id, "unsupported", *e.what() ? e.what() : "the kernel does not support this case");
  } catch (const std::exception& e) {
    return reply(id, "error", "case '" + c.name + "': " + e.what());
  } catch (...) {
    return reply(id, "error", "case '" + c.name + "': the kernel threw something that is not a std::exception");
  }
  return "{\"id\": " + id + ", \"ok\": true}";
}

}  // namespace detail

/// Serves `kernel` as an attn-diff candidate worker on stdin/stdout until `{"op": "shutdown"}` or
/// end of input; returns 0 (main's exit code). `supports_json` is the handshake's "supports" object
/// (SPEC §13: "backward", "paged", "ragged", "layouts"), e.g. R"({"layouts": ["bshd"]})": by default
/// none, and no "layouts" list, so attn-diff sends any --layout and the kernel reads Case::layout.
inline int serve(const std::string& name, const Kernel& kernel, const std::string& supports_json = "{}") {
  detail::Channel channel;
  const std::string hello = std::string("{\"protocol\": \"") + kProtocol + "\", \"name\": " + json_string(name) +
                            ", \"supports\": " + supports_json + "}";
  std::string line;
  while (channel.read_line(line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Json msg;
    std::string bad;
    try {
      msg = parse_json(line);
      if (msg.type != Json::Type::Object) bad = "not a JSON object";
    } catch (const std::exception& e) {
      bad = std::string("not a JSON line (") + e.what() + ")";
    }
    std::string response;
    if (!bad.empty()) {
      const std::string id = detail::scrape_id(line);
      if (id.empty()) {
        detail::log("ignored a request line: " + bad + ": " + line.substr(0, 200));
        continue;
      }
      response = detail::reply(id, "error", "request " + id + ": error: " + bad);
    } else if (const Json* op = msg.find("op"); op && op->is_string() && op->text == "shutdown") {
      break;
    } else if (msg.find("protocol") && !msg.find("id")) {
      const Json* p = msg.find("protocol");
      if (!p->is_string() || p->text != kProtocol) detail::log(std::string("attn-diff speaks another protocol; this worker speaks ") + kProtocol);
      response = hello;
    } else if (!msg.find("id")) {
      detail::log("ignored a message with no id and no known op: " + line.substr(0, 200));
      continue;
    } else {
      response = detail::answer(kernel, msg);
    }
    std::cout.flush();
    std::fflush(stdout);
    std::fflush(stderr);
    if (!channel.send(response)) break;
  }
  return 0;
}

}  // namespace attn_diff_worker
