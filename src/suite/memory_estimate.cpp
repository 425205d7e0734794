#include "src/suite/memory_estimate.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "src/suite/config.hpp"

namespace attn {

std::optional<std::int64_t> checked_product(std::initializer_list<std::int64_t> xs) {
  std::int64_t p = 1;
  for (std::int64_t x : xs)
    if (__builtin_mul_overflow(p, x, &p)) return std::nullopt;
  return p;
}

std::string human_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double x = double(b);
  int u = 0;
  while (x >= 1024.0 && u < 6) x /= 1024.0, ++u;
  return fmt::format("{:.1f} {}", x, units[u]);
}

std::uint64_t estimate_memory(const CaseSpec& c, int threads) {
  const Shape& s = c.problem.shape;
  const std::uint64_t q = std::uint64_t(s.q_elements());
  // K and V as the kernels pack them (kernels/blocks.hpp): keys padded to 32, D padded to 32 for V;
  // golden's copy in float64 is the larger and the packings do not coexist.
  const std::uint64_t kpad = (std::uint64_t(s.kv_tokens) + 31) / 32 * 32, dpad = (std::uint64_t(s.head_dim) + 31) / 32 * 32;
  const std::uint64_t packed = 8 * std::uint64_t(s.batch * s.kv_heads) * kpad * (std::uint64_t(s.head_dim) + dpad);
  // inputs (float) + golden (double) + naive, tiled (float) + candidate and naive copies as double
  const std::uint64_t tensors = 4 * (q + 2 * std::uint64_t(s.kv_elements())) + 8 * q + 4 * q * 2 + 8 * q * 2 + packed;
  // per thread: golden's block of 8 score rows in float64, tiled's two blocks of a KV tile and its
  // Q tile's accumulator
  const std::uint64_t tile = std::uint64_t(std::min(c.tiles.kv, s.kv_tokens)) + 64;
  const std::uint64_t per_thread = 8 * 8 * kpad + 2 * 8 * tile * 4 +
                                   4 * std::uint64_t(std::min(c.tiles.q, s.tokens) + 8) * (dpad + 4) + (1u << 16);
  // A backward case: dO, and dQ, dK, dV of golden (double), naive, the candidate and the tiled
  // kernel (float, held as double in the judge): about 40 bytes per element of Q, K and V; and the
  // tiled backward's dQ of each KV tile, summed in tile order at the end (kernels/tiled_backward.cpp).
  const std::uint64_t kv_tiles = (std::uint64_t(s.kv_tokens) + std::uint64_t(c.tiles.kv) - 1) / std::uint64_t(c.tiles.kv);
  const std::uint64_t backward = c.backward ? 4 * q + 40 * (q + 2 * std::uint64_t(s.kv_elements())) + 4 * q * kv_tiles : 0;
  return tensors + backward + per_thread * std::uint64_t(std::max(threads, 1));
}

}  // namespace attn
