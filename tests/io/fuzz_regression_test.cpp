// Replays the fuzz seeds and every saved finding (tests/fuzz/corpus/<target>/ and
// tests/fuzz/regressions/<target>/) through the same entry points the libFuzzer targets call, in
// the normal build: no clang, no libFuzzer. A finding stays fixed once its file is saved here.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fuzz/fuzz_entries.hpp"

namespace {

namespace fs = std::filesystem;

using Entry = std::string (*)(std::string_view);

// Every file of the target's seed and regression folders; returns how many were replayed.
int replay(const std::string& target, Entry entry) {
  int n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(ATTN_DIFF_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
    REQUIRE(fs::is_directory(dir));
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().filename() == ".gitkeep") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      INFO(e.path().string());
      CHECK(entry(bytes.str()) == "");
      ++n;
    }
  }
  return n;
}

}  // namespace

TEST_CASE("fuzz regressions: config seeds and findings load or are refused cleanly", "[fuzz]") {
  CHECK(replay("config", attn::fuzz::config_entry) >= 4);
}

TEST_CASE("fuzz regressions: npy seeds and findings read or are refused cleanly", "[fuzz]") {
  CHECK(replay("npy", attn::fuzz::npy_entry) >= 8);
}

TEST_CASE("fuzz regressions: safetensors seeds and findings read or are refused cleanly", "[fuzz]") {
  CHECK(replay("safetensors", attn::fuzz::safetensors_entry) >= 5);
}

TEST_CASE("fuzz regressions: report seeds and findings merge, render or are refused cleanly", "[fuzz]") {
  CHECK(replay("report", attn::fuzz::report_entry) >= 5);
}

TEST_CASE("fuzz regressions: dump case.json seeds and findings load or are refused cleanly", "[fuzz]") {
  CHECK(replay("dump_case", attn::fuzz::dump_case_entry) >= 3);
}
