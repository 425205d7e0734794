// The input generator, written down so that the same seed gives the same bits on every machine,
// compiler, standard library and thread count (std::*_distribution is not portable).
//
//   key(seed, tensor)  = mix(mix(seed) ^ (0x9E3779B97F4A7C15 · (tensor + 1)))
//   bits(key, n)       = mix(key + 0x9E3779B97F4A7C15 · (n + 1))       (counter-based SplitMix64)
//   uniform(key, n)    = ((bits >> 11) + 0.5) · 2^-53                   in (0, 1), never 0 or 1
//   normal(key, n)     = sqrt(-2 ln u1) · cos(2π u2), u1 = uniform(key, 2n), u2 = uniform(key, 2n+1)
//
// where mix is SplitMix64's finaliser. Element n of a tensor depends only on (seed, tensor, n).
#pragma once

#include <cstdint>

namespace attn {

inline std::uint64_t splitmix_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ull;

/// Tags of the independent streams of one case.
enum class Stream : std::uint64_t { q = 1, k = 2, v = 3, sinks = 4, q_outliers = 17, k_outliers = 18,
                                    v_outliers = 19, sinks_outliers = 20, dout = 5,
                                    dout_outliers = 21 };

inline std::uint64_t stream_key(std::uint64_t seed, Stream s) {
  return splitmix_mix(splitmix_mix(seed) ^ (kGamma * (static_cast<std::uint64_t>(s) + 1)));
}

inline std::uint64_t stream_bits(std::uint64_t key, std::uint64_t n) { return splitmix_mix(key + kGamma * (n + 1)); }

inline double stream_uniform(std::uint64_t key, std::uint64_t n) {
  return (double(stream_bits(key, n) >> 11) + 0.5) * 0x1.0p-53;
}

double stream_normal(std::uint64_t key, std::uint64_t n);

}  // namespace attn
