// The attention problem of SPEC §2: shapes, positions, visibility, and the input tensors.
// Every kernel (golden, naive, tiled, mutants) takes these same types, so a kernel can be swapped
// for another without touching the harness.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace attn {

using Index4 = std::array<std::int64_t, 4>;  // an element of a bshd tensor: [b, i, h, d]

/// Queries and keys per tile of the tiled kernel (a case's `tiles` key).
struct TileSizes {
  std::int64_t q = 128;    // queries per tile
  std::int64_t kv = 2048;  // keys per tile
};

/// Sizes of one attention problem. Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], O: [B][Sq][H][D].
struct Shape {
  std::int64_t batch = 1;
  std::int64_t tokens = 1;     // Sq
  std::int64_t kv_tokens = 1;  // Sk
  std::int64_t q_offset = 0;   // absolute position of query row 0
  std::int64_t heads = 1;      // H
  std::int64_t kv_heads = 1;   // Hkv, H % Hkv == 0
  std::int64_t head_dim = 1;   // D

  std::int64_t q_mult() const { return heads / kv_heads; }
  std::int64_t q_elements() const { return batch * tokens * heads * head_dim; }
  std::int64_t kv_elements() const { return batch * kv_tokens * kv_heads * head_dim; }
};

/// The semantics that decide which keys a query sees and how scores are formed.
struct Problem {
  Shape shape;
  bool causal = true;
  std::int64_t window = 0;  // gpt-oss convention: a query sees at most `window` keys; 0 = no window
  bool has_sinks = false;
  double scale = 1.0;

  /// Absolute position of query row i.
  std::int64_t position(std::int64_t i) const { return shape.q_offset + i; }

  /// Half-open range [lo, hi) of keys visible to query row i. Visibility is always one interval
  /// (causal, window and their combinations all cut a contiguous run), so kernels can loop over it
  /// and skip everything else. lo == hi means the row sees no key.
  struct KeyRange {
    std::int64_t lo, hi;
    bool empty() const { return hi <= lo; }
    std::int64_t size() const { return empty() ? 0 : hi - lo; }
  };
  KeyRange visible_keys(std::int64_t i) const;

  /// Number of query rows (per batch and head) that see no key.
  std::int64_t empty_rows() const;
  /// Number of visible (query, key) pairs per batch and head: the useful work of one head.
  std::int64_t visible_pairs() const;
};

/// Input tensors, values already rounded to the input dtype of the recipe, in bshd layout.
struct Inputs {
  std::vector<float> q;      // [B][Sq][H][D]
  std::vector<float> k;      // [B][Sk][Hkv][D]
  std::vector<float> v;      // [B][Sk][Hkv][D]
  std::vector<float> sinks;  // [H], empty when the problem has no sinks
  // Per-tensor quantisation scales (fp8, int8 recipes): each value above is code × scale.
  // 1 for tensors that are rounded rather than quantised.
  float q_scale = 1.0f, k_scale = 1.0f, v_scale = 1.0f, sinks_scale = 1.0f;
  // Per-head scales of K and V (recipe kv_scale per_head, fp8 only): one per KV head, whose
  // elements are code × scale[head]; empty otherwise (then k_scale, v_scale hold the scale).
  std::vector<float> k_head_scales, v_head_scales;
  // The upstream gradient dO of a backward case (SPEC §10), [B][Sq][H][D]; empty otherwise.
  std::vector<float> dout;
};

/// Flat index of element [b][s][h][d] in a tensor with `tokens` rows and `heads` heads of size D.
inline std::int64_t bshd(std::int64_t b, std::int64_t s, std::int64_t h, std::int64_t d,
                         std::int64_t tokens, std::int64_t heads, std::int64_t dim) {
  return ((b * tokens + s) * heads + h) * dim + d;
}

}  // namespace attn
