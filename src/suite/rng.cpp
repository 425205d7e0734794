#include "src/suite/rng.hpp"

#include <cmath>
#include <numbers>

namespace attn {

double stream_normal(std::uint64_t key, std::uint64_t n) {
  const double u1 = stream_uniform(key, 2 * n), u2 = stream_uniform(key, 2 * n + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

}  // namespace attn
