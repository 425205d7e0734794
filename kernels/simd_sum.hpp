// Dot products with a fixed, documented summation order. Eight interleaved partial sums
// (element d goes to lane d % 8), then the lanes are added pairwise: ((0+4)+(2+6))+((1+5)+(3+7)).
// The order is part of the kernel's definition, so emulated rounding gives the same bits on every
// machine and compiler, and the compiler may still vectorise the lanes without -ffast-math.
#pragma once

#include <cstdint>

namespace attn {

template <class Acc, class T>
inline Acc lane_dot(const T* a, const T* b, std::int64_t n) {
  Acc lane[8] = {};
  std::int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int l = 0; l < 8; ++l) lane[l] += Acc(a[d + l]) * Acc(b[d + l]);
  for (int l = 0; d < n; ++d, ++l) lane[l] += Acc(a[d]) * Acc(b[d]);
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

}  // namespace attn
