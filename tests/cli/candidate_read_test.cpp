// Reading files that come from outside, through the CLI: a candidate output or a dumped input that
// is a FIFO, a device or a sparse file claiming gigabytes is refused from its header and its file
// type before any data is read, and a dump's case.json cannot point at files outside the dump or
// carry a wrong type without a message naming the file and the key (exit 2, never an abort).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_text;
using attn::test::run_cli;
using attn::test::run_command;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

const std::string kBin = ATTN_DIFF_BINARY;

// compare (or diagnose) with at most about 4 GB of address space and a time limit, so that a reader
// that trusts a file's size fails (bad_alloc, or timeout 124) instead of taking the machine down.
// AddressSanitizer reserves terabytes of shadow memory and cannot start under `ulimit -v`; there its
// own allocator aborts on an absurd allocation instead, which fails the exit-code checks just the same.
attn::test::CliResult guarded(const std::string& args) {
#if defined(__SANITIZE_ADDRESS__)
  const std::string limit;
#else
  const std::string limit = "ulimit -v 4000000; ";
#endif
  return run_command(limit + "NO_COLOR=1 timeout 60 " + kBin + " " + args);
}

// A dump of phase1's 'basic' case (B=1 Sq=4 H=2 D=4: 32 output elements) in dir/name.
std::string dump_basic(const TempDir& dir, const std::string& name, const std::string& format = "npy") {
  const std::string d = (dir.path / name).string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case basic --format " + format + " --out " + d).code == 0);
  return d;
}

// An .npy header for float32 of `shape_text` followed by `data_bytes` of holes: a sparse file.
void sparse_npy(const std::string& path, const std::string& shape_text, std::uint64_t data_bytes) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text + ", }";
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string file = "\x93NUMPY\x01";
  file += '\0';
  file += char(h.size() & 0xFF);
  file += char(h.size() >> 8);
  file += h;
  std::ofstream(path, std::ios::binary) << file;
  fs::resize_file(path, file.size() + data_bytes);
}

// A safetensors file with one F32 tensor "out" of `count` elements, its data holes.
void sparse_safetensors(const std::string& path, std::uint64_t count) {
  std::string h = R"({"out":{"dtype":"F32","shape":[)" + std::to_string(count) + R"(],"data_offsets":[0,)" +
                  std::to_string(count * 4) + "]}}";
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string file;
  for (int i = 0; i < 8; ++i) file += char((std::uint64_t(h.size()) >> (8 * i)) & 0xFF);
  file += h;
  std::ofstream(path, std::ios::binary) << file;
  fs::resize_file(path, file.size() + count * 4);
}

void edit_case_json(const std::string& dump, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dump + "/case.json";
  nlohmann::json j = nlohmann::json::parse(read_text(path));
  edit(j);
  std::ofstream(path) << j.dump(2);
}

}  // namespace

TEST_CASE("candidate read: a FIFO, /dev/zero or a folder as the candidate is refused without reading it",
          "[candidate_read]") {
  TempDir dir("cr_kinds");
  const std::string d = dump_basic(dir, "d");
  const std::string fifo = (dir.path / "out.npy").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto r = guarded("compare -i " + d + " --candidate " + fifo);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(fifo + ": error: is a FIFO, not a regular file"));

  fs::create_symlink("/dev/zero", dir.path / "zero.npy");
  r = guarded("diagnose -i " + d + " --candidate " + (dir.path / "zero.npy").string());
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("zero.npy: error: is a character device, not a regular file"));

  r = guarded("compare -i " + d + " --candidate " + d);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(d + ": error: is a directory, not a file"));
}

TEST_CASE("candidate read: a sparse file declaring gigabytes is refused from its header", "[candidate_read]") {
  TempDir dir("cr_sparse");
  const std::string d = dump_basic(dir, "d");
  const std::string npy = (dir.path / "big.npy").string();
  sparse_npy(npy, "(1, 1500000000)", 6000000000ULL);  // 6 GB, honest about its size
  auto r = guarded("compare -i " + d + " --candidate " + npy);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(npy + ": error: the output has shape [1, 1500000000], but layout bshd expects [1, 4, 2, 4]"));

  const std::string st = (dir.path / "big.safetensors").string();
  sparse_safetensors(st, 1500000000ULL);
  r = guarded("compare -i " + d + " --candidate " + st);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains(st + ": error: the output has shape [1500000000], but layout bshd expects [1, 4, 2, 4]"));

  // The right size still reads, and a smaller wrong shape gets the layout's message.
  sparse_npy(npy, "(1, 4, 2, 4)", 32 * 4);
  r = guarded("compare -i " + d + " --candidate " + npy + " --no-diagnose");
  CHECK(r.code == 1);  // zeros: a wrong output, but read
  sparse_npy(npy, "(1, 4, 2, 3)", 24 * 4);
  r = guarded("compare -i " + d + " --candidate " + npy);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("the output has shape [1, 4, 2, 3], but layout bshd expects [1, 4, 2, 4]"));
}

TEST_CASE("candidate read: a dumped input replaced by a FIFO or a sparse giant is refused", "[candidate_read]") {
  TempDir dir("cr_inputs");
  const std::string d = dump_basic(dir, "d");
  const std::string tiled = (dir.path / "tiled.npy").string();
  fs::copy_file(d + "/tiled.npy", tiled);
  sparse_npy(d + "/k.npy", "(1, 1500000000)", 6000000000ULL);
  auto r = guarded("compare -i " + d + " --candidate " + tiled);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("k.npy: error: 'k' has shape [1, 1500000000], the case needs [1, 4, 2, 4]"));
  fs::remove(d + "/k.npy");
  REQUIRE(::mkfifo((d + "/k.npy").c_str(), 0600) == 0);
  r = guarded("compare -i " + d + " --candidate " + tiled);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("k.npy: error: is a FIFO, not a regular file"));

  const std::string s = dump_basic(dir, "s", "safetensors");
  sparse_safetensors(s + "/inputs.safetensors", 1500000000ULL);
  edit_case_json(s, [](nlohmann::json& j) { j["dump"]["files"]["q"]["tensor"] = "out"; });
  r = guarded("compare -i " + s + " --candidate " + tiled);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK_THAT(r.out, Contains("inputs.safetensors: error: 'q' has shape [1500000000], the case needs [1, 4, 2, 4]"));
}

TEST_CASE("candidate read: case.json may name only files inside the dump folder", "[candidate_read]") {
  TempDir dir("cr_escape");
  const std::string d = dump_basic(dir, "d");
  const std::string tiled = (dir.path / "tiled.npy").string();
  fs::copy_file(d + "/tiled.npy", tiled);
  fs::copy_file(d + "/q.npy", dir.path / "outside.npy");
  fs::create_symlink(dir.path / "outside.npy", fs::path(d) / "link.npy");
  fs::create_symlink("/dev/zero", fs::path(d) / "zero.npy");
  struct Try {
    std::string file, why;
  };
  for (const Try& t : {Try{"/dev/zero", "'/dev/zero' is absolute or empty"},
                       Try{(dir.path / "outside.npy").string(), "is absolute or empty"},
                       Try{"../outside.npy", "'../outside.npy' leaves the dump folder ('..')"},
                       Try{"link.npy", "'link.npy' leaves the dump folder through a symlink"},
                       Try{"zero.npy", "'zero.npy' leaves the dump folder through a symlink"}}) {
    INFO(t.file);
    edit_case_json(d, [&](nlohmann::json& j) { j["dump"]["files"]["q"]["file"] = t.file; });
    for (const char* cmd : {"compare", "diagnose"}) {
      const auto r = guarded(std::string(cmd) + " -i " + d + " --candidate " + tiled);
      INFO(r.out);
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Contains(d + "/case.json: error: 'dump.files.q.file' "));
      CHECK_THAT(r.out, Contains(t.why));
    }
  }
}

TEST_CASE("candidate read: a wrong type anywhere in case.json's dump object is exit 2 naming the key",
          "[candidate_read]") {
  TempDir dir("cr_types");
  const std::string s = dump_basic(dir, "s", "safetensors");
  const std::string tiled = (dir.path / "tiled.npy").string();
  fs::copy_file(s + "/tiled.npy", tiled);
  const std::string original = read_text(s + "/case.json");
  struct Try {
    std::function<void(nlohmann::json&)> edit;
    std::string message;
  };
  const std::vector<Try> tries = {
      {[](nlohmann::json& j) { j["dump"]["files"]["q"]["tensor"] = 5; }, "'dump.files.q.tensor' is a number, not a string"},
      {[](nlohmann::json& j) { j["dump"]["files"]["k"]["file"] = nullptr; }, "'dump.files.k.file' is null, not a string"},
      {[](nlohmann::json& j) { j["dump"]["files"]["v"] = "v.npy"; }, "'dump.files.v' is a string, not an object"},
      {[](nlohmann::json& j) { j["dump"]["files"] = nlohmann::json::array(); }, "'dump.files' is an array, not an object"},
      {[](nlohmann::json& j) { j["dump"]["input_scales"] = {1, 2}; }, "'dump.input_scales' is an array, not an object"},
      {[](nlohmann::json& j) { j["dump"]["input_scales"]["q"] = "1"; }, "'dump.input_scales.q' is a string, not a number"},
      {[](nlohmann::json& j) { j["dump"] = 7; }, "'dump' is a number, not an object"},
  };
  for (const Try& t : tries) {
    std::ofstream(s + "/case.json") << original;
    edit_case_json(s, t.edit);
    for (const char* cmd : {"compare", "diagnose"}) {
      const auto r = guarded(std::string(cmd) + " -i " + s + " --candidate " + tiled);
      INFO(cmd << " " << t.message << "\n" << r.out);
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Contains(s + "/case.json: error: " + t.message));
    }
  }
  std::ofstream(s + "/case.json") << original;
  CHECK(run_cli("compare -i " + s + " --candidate " + tiled).code == 0);
}

TEST_CASE("text inputs: a suite, case.json, baseline or merge report that is a FIFO or a device is refused at once",
          "[candidate_read][cli]") {
  TempDir dir("text_inputs");
  const std::string fifo = (dir.path / "in.fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A dump whose case.json is a FIFO: compare must refuse it, not wait for a writer.
  const std::string dump = dump_basic(dir, "d");
  const std::string case_json = (fs::path(dump) / "case.json").string();
  fs::remove(case_json);
  REQUIRE(::mkfifo(case_json.c_str(), 0600) == 0);
  const std::string out = (fs::path(dump) / "tiled.npy").string();
  struct Probe {
    std::string args, file, message;
  };
  const std::vector<Probe> probes = {
      {"validate -c " + fifo, fifo, "is a FIFO, not a regular file"},
      {"run -c " + fifo, fifo, "is a FIFO, not a regular file"},
      {"validate -c /dev/zero", "/dev/zero", "is a character device, not a regular file"},
      {"run -c configs/phase1.json --case basic --baseline " + fifo, fifo,
       "cannot read the baseline report: is a FIFO, not a regular file"},
      {"merge " + fifo, fifo, "cannot read the report: is a FIFO, not a regular file"},
      {"merge /dev/zero", "/dev/zero", "cannot read the report: is a character device"},
      {"compare --inputs " + dump + " --candidate " + out, case_json, "is a FIFO, not a regular file"},
  };
  for (const Probe& p : probes) {
    INFO(p.args);
    const auto r = guarded(p.args);  // a reader that blocks is killed by the time limit: 124, not 2
    INFO(r.out);
    CHECK(r.code == 2);
    CHECK_THAT(r.out, Contains(p.file + ": error: " + p.message));
  }
}
