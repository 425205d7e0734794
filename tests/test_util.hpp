// Helpers shared by the tests: building problems and an independent float64 attention.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "src/suite/problem.hpp"

namespace attn::test {

/// A problem with the given shape; scale defaults to 1/sqrt(D).
inline Problem make_problem(std::int64_t B, std::int64_t Sq, std::int64_t Sk, std::int64_t H, std::int64_t Hkv,
                            std::int64_t D, bool causal, std::int64_t window, bool sinks) {
  Problem p;
  p.shape = {.batch = B, .tokens = Sq, .kv_tokens = Sk, .q_offset = Sk - Sq, .heads = H, .kv_heads = Hkv, .head_dim = D};
  p.causal = causal;
  p.window = window;
  p.has_sinks = sinks;
  p.scale = 1.0 / std::sqrt(double(D));
  return p;
}

/// Deterministic test inputs from a tiny LCG, independent of the project's generator; values are
/// multiples of 1/64 in [-2, 2] so every format under test holds them exactly.
inline Inputs lcg_inputs(const Problem& p, std::uint64_t seed) {
  std::uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return float(std::int64_t((x >> 33) % 257) - 128) / 64.0f;
  };
  Inputs in;
  for (std::int64_t n = 0; n < p.shape.q_elements(); ++n) in.q.push_back(next());
  for (std::int64_t n = 0; n < p.shape.kv_elements(); ++n) in.k.push_back(next());
  for (std::int64_t n = 0; n < p.shape.kv_elements(); ++n) in.v.push_back(next());
  if (p.has_sinks)
    for (std::int64_t h = 0; h < p.shape.heads; ++h) in.sinks.push_back(next() * 2.0f);
  return in;
}

/// An attention written independently of kernels/: the spec's visibility rule evaluated for every
/// (query, key) pair, a full masked score matrix in long double, the sink as an extra softmax column.
inline std::vector<double> independent_attention(const Problem& p, const Inputs& in) {
  const Shape& s = p.shape;
  std::vector<double> out(s.q_elements(), 0.0);
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const std::int64_t g = h / (s.heads / s.kv_heads);
      for (std::int64_t i = 0; i < s.tokens; ++i) {
        const std::int64_t pos = s.q_offset + i;
        std::vector<long double> logits;
        std::vector<std::int64_t> keys;
        for (std::int64_t j = 0; j < s.kv_tokens; ++j) {
          bool vis = true;
          if (p.causal && j > pos) vis = false;
          if (p.window > 0 && p.causal && !(j > pos - p.window)) vis = false;
          if (p.window > 0 && !p.causal && !(std::llabs(pos - j) < p.window)) vis = false;
          if (!vis) continue;
          long double dot = 0;
          for (std::int64_t d = 0; d < s.head_dim; ++d)
            dot += (long double)in.q[((b * s.tokens + i) * s.heads + h) * s.head_dim + d] *
                   (long double)in.k[((b * s.kv_tokens + j) * s.kv_heads + g) * s.head_dim + d];
          logits.push_back(dot * (long double)p.scale);
          keys.push_back(j);
        }
        if (keys.empty()) continue;  // output stays 0
        long double mx = p.has_sinks ? (long double)in.sinks[h] : logits[0];
        for (long double l : logits) mx = std::max(mx, l);
        long double z = p.has_sinks ? std::exp((long double)in.sinks[h] - mx) : 0.0L;
        for (long double l : logits) z += std::exp(l - mx);
        for (std::int64_t d = 0; d < s.head_dim; ++d) {
          long double acc = 0;
          for (std::size_t n = 0; n < keys.size(); ++n)
            acc += std::exp(logits[n] - mx) / z *
                   (long double)in.v[((b * s.kv_tokens + keys[n]) * s.kv_heads + g) * s.head_dim + d];
          out[((b * s.tokens + i) * s.heads + h) * s.head_dim + d] = double(acc);
        }
      }
    }
  return out;
}

/// max |a - b| / max |b| (0 when b is all zeros and a equals it).
inline double max_rel_to_peak(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, peak = 0;
  for (std::size_t n = 0; n < a.size(); ++n) {
    diff = std::max(diff, std::abs(a[n] - b[n]));
    peak = std::max(peak, std::abs(b[n]));
  }
  return peak > 0 ? diff / peak : diff;
}

}  // namespace attn::test
