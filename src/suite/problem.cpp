#include "src/suite/problem.hpp"

#include <algorithm>

namespace attn {

Problem::KeyRange Problem::visible_keys(std::int64_t i) const {
  const std::int64_t p = position(i);
  std::int64_t lo = 0;
  std::int64_t hi = shape.kv_tokens;
  if (causal) hi = std::min(hi, p + 1);
  if (window > 0) {
    lo = std::max(lo, p - window + 1);                // j > p - W
    if (!causal) hi = std::min(hi, p + window);       // |p - j| < W
  }
  return {lo, std::max(lo, hi)};
}

std::int64_t Problem::empty_rows() const {
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < shape.tokens; ++i) n += visible_keys(i).empty();
  return n;
}

std::int64_t Problem::visible_pairs() const {
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < shape.tokens; ++i) n += visible_keys(i).size();
  return n;
}

}  // namespace attn
