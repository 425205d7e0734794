// example_worker.cpp: a plain C++ attention served to attn-diff through attn_diff_worker.hpp.
//
//   g++ -std=c++17 -O2 -Wall -Wextra -o example_worker examples/cpp_worker/example_worker.cpp
//   attn-diff run --config configs/phase1.json --candidate-worker ./example_worker
//
// The attention is the naive one, in double, with gpt-oss semantics (attn-diff's SPEC §2): a sink
// logit per query head, causal masking, a sliding window, grouped-query attention (query head h
// reads kv head h / (H / Hkv)), a decode offset (query row i sits at position q_offset + i), the
// case's scale, and a row that sees no key gives 0. Replace attention() with a call of your kernel.
// --kernel-bug window_off_by_one lets one key too many through the window, to watch attn-diff catch it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attn_diff_worker.hpp"

namespace {

using attn_diff_worker::Case;
using attn_diff_worker::Tensor;

/// Whether query position `p` sees key `j` (SPEC §2 "Visibility"); window 0 means none.
bool visible(long long p, long long j, bool causal, long long window) {
  if (causal) return j <= p && (window <= 0 || j > p - window);
  return window <= 0 || std::llabs(p - j) < window;
}

// Q: [B][Sq][H][D], K, V: [B][Sk][Hkv][D], sinks: [H] or none -> O: [B][Sq][H][D] (float32).
Tensor attention(const Case& c, bool window_bug) {
  const std::size_t B = c.batch, Sq = c.tokens, Sk = c.kv_tokens, H = c.heads, Hkv = c.kv_heads, D = c.head_dim;
  const std::size_t q_mult = H / Hkv;
  const long long window = window_bug && c.window > 0 ? c.window + 1 : c.window;
  Tensor out({B, Sq, H, D});
  std::vector<double> score(Sk), acc(D);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t i = 0; i < Sq; ++i)
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t kvh = h / q_mult;
        const long long p = c.q_offset + static_cast<long long>(i);
        const float* q = &c.q.data[((b * Sq + i) * H + h) * D];
        double m = c.has_sinks() ? double(c.sinks.data[h]) : -std::numeric_limits<double>::infinity();
        bool any = false;
        for (std::size_t j = 0; j < Sk; ++j) {
          if (!visible(p, static_cast<long long>(j), c.causal, window)) continue;
          const float* k = &c.k.data[((b * Sk + j) * Hkv + kvh) * D];
          double dot = 0;
          for (std::size_t d = 0; d < D; ++d) dot += double(q[d]) * double(k[d]);
          score[j] = c.scale * dot;
          m = std::max(m, score[j]);
          any = true;
        }
        if (!any) continue;  // no visible key: the output row stays 0
        double z = c.has_sinks() ? std::exp(double(c.sinks.data[h]) - m) : 0.0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::size_t j = 0; j < Sk; ++j) {
          if (!visible(p, static_cast<long long>(j), c.causal, window)) continue;
          const double w = std::exp(score[j] - m);
          z += w;
          const float* v = &c.v.data[((b * Sk + j) * Hkv + kvh) * D];
          for (std::size_t d = 0; d < D; ++d) acc[d] += w * double(v[d]);
        }
        float* o = &out.data[((b * Sq + i) * H + h) * D];
        for (std::size_t d = 0; d < D; ++d) o[d] = static_cast<float>(acc[d] / z);
      }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bool window_bug = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--kernel-bug" && a + 1 < argc && std::strcmp(argv[a + 1], "window_off_by_one") == 0) {
      window_bug = true;
      ++a;
    } else if (arg == "--kernel-bug" && a + 1 < argc && std::strcmp(argv[a + 1], "none") == 0) {
      ++a;
    } else {
      std::fprintf(stderr, "usage: %s [--kernel-bug none|window_off_by_one]\n(an attn-diff candidate worker: run it with "
                   "`attn-diff run --candidate-worker %s`)\n", argv[0], argv[0]);
      return 2;
    }
  }
  return attn_diff_worker::serve(window_bug ? "cpp example (bug: window_off_by_one)" : "cpp example",
                                 [window_bug](const Case& c) { return attention(c, window_bug); },
                                 R"({"layouts": ["bshd"]})");  // the output is bshd: another --layout is unsupported
}
