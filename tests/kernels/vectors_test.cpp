// The conventions (window, sinks, GQA mapping, decode offset, empty rows) pinned against attention
// problems solved outside this project in float64 (tests/data/vectors, from ../shared/vectors).
// Their inputs are float64 values that float32 cannot hold; our kernels take float inputs, so the
// agreement is at float32 input rounding (~1e-7 relative), far below any convention mistake
// (a window off by one or a wrong kv head moves outputs by O(0.1)).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kernels/golden.hpp"
#include "kernels/tiled.hpp"
#include "src/io/npy.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

std::vector<float> load_floats(const std::filesystem::path& p) {
  Array a;
  std::string err;
  REQUIRE(read_npy(p.string(), &a, &err));
  return {a.values.begin(), a.values.end()};
}

}  // namespace

TEST_CASE("golden and tiled agree with the independent float64 vectors", "[vectors]") {
  const std::filesystem::path root = std::filesystem::path(ATTN_DIFF_SOURCE_DIR) / "tests/data/vectors";
  int seen = 0;
  for (const auto& dir : std::filesystem::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    ++seen;
    INFO(dir.path().filename().string());
    std::ifstream f(dir.path() / "case.json");
    const auto c = nlohmann::json::parse(f);
    Problem p;
    p.shape = {.batch = c["batch"], .tokens = c["tokens"], .kv_tokens = c["kv_tokens"], .q_offset = c["q_offset"],
               .heads = c["heads"], .kv_heads = c["kv_heads"], .head_dim = c["head_dim"]};
    p.causal = c["causal"];
    p.window = c["window"];
    p.has_sinks = c["sinks"];
    p.scale = c["scale"];
    Inputs in{.q = load_floats(dir.path() / "q.npy"), .k = load_floats(dir.path() / "k.npy"),
              .v = load_floats(dir.path() / "v.npy")};
    if (p.has_sinks) in.sinks = load_floats(dir.path() / "sinks.npy");
    Array expected;
    std::string err;
    REQUIRE(read_npy((dir.path() / "out.npy").string(), &expected, &err));

    std::vector<double> golden(p.shape.q_elements());
    golden_attention(p, in, golden);
    CHECK(test::max_rel_to_peak(golden, expected.values) <= 1e-5);
    // The independent float64 attention of the tests agrees with golden on the same float inputs
    // to 1e-12: the remaining difference above is the inputs' rounding only.
    CHECK(test::max_rel_to_peak(golden, test::independent_attention(p, in)) <= 1e-12);

    std::vector<float> tiled(p.shape.q_elements());
    tiled_attention(p, in, {.recipe = *recipe_by_name("fp32"), .tiles = {4, 8}}, tiled);
    CHECK(test::max_rel_to_peak({tiled.begin(), tiled.end()}, expected.values) <= 1e-5);
  }
  CHECK(seen == 6);
}
