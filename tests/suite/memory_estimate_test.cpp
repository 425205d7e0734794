// The pieces of the memory estimate (src/suite/memory_estimate.hpp) that messages show: sizes
// in binary units, and the product that refuses overflowing shapes.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "src/suite/config.hpp"
#include "src/suite/memory_estimate.hpp"

using namespace attn;

TEST_CASE("memory estimate: bytes in the largest binary unit that keeps the number at least 1", "[memory_estimate]") {
  CHECK(human_bytes(0) == "0.0 B");
  CHECK(human_bytes(1023) == "1023.0 B");
  CHECK(human_bytes(1024) == "1.0 KiB");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(8ull << 30) == "8.0 GiB");
  CHECK(human_bytes(std::numeric_limits<std::uint64_t>::max()) == "16.0 EiB");  // no unit past EiB
}

TEST_CASE("memory estimate: checked_product refuses what overflows int64", "[memory_estimate]") {
  CHECK(checked_product({}) == 1);
  CHECK(checked_product({3, 4, 5}) == 60);
  CHECK(checked_product({std::int64_t(1) << 62, 1}) == std::int64_t(1) << 62);
  CHECK_FALSE(checked_product({std::int64_t(1) << 62, 2}));
  CHECK_FALSE(checked_product({std::int64_t(1) << 32, std::int64_t(1) << 32}));
}

TEST_CASE("memory estimate: grows with the threads and with the case", "[memory_estimate]") {
  CaseSpec c;
  c.problem.shape = {.batch = 1, .tokens = 64, .kv_tokens = 64, .heads = 2, .kv_heads = 2, .head_dim = 32};
  const std::uint64_t one = estimate_memory(c, 1);
  CHECK(estimate_memory(c, 4) > one);
  CHECK(estimate_memory(c, 0) == one);  // at least one thread
  CaseSpec big = c;
  big.problem.shape.tokens = big.problem.shape.kv_tokens = 128;
  CHECK(estimate_memory(big, 1) > one);
}
