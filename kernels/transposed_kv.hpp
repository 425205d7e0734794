// K and V of one (batch, KV head), transposed, for the backward references (golden in float64,
// naive in float), whose inner loops run over keys for one dimension at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "src/suite/problem.hpp"

namespace attn {

/// kt[d · Sk + j] = K[b][j][g][d], vt likewise (empty unless with_v).
template <class T>
struct TransposedKV {
  std::vector<T> kt, vt;
  TransposedKV(const Shape& s, const Inputs& in, std::int64_t b, std::int64_t g, bool with_v)
      : kt(s.head_dim * s.kv_tokens), vt(with_v ? s.head_dim * s.kv_tokens : 0) {
    for (std::int64_t j = 0; j < s.kv_tokens; ++j)
      for (std::int64_t d = 0; d < s.head_dim; ++d) {
        const std::int64_t n = bshd(b, j, g, d, s.kv_tokens, s.kv_heads, s.head_dim);
        kt[d * s.kv_tokens + j] = in.k[n];
        if (with_v) vt[d * s.kv_tokens + j] = in.v[n];
      }
  }
};

}  // namespace attn
