// The blocked inner loops that golden, naive and tiled share: packed K and V, the register-blocked
// QKᵀ and P·V products, and 16-lane row reductions. Each is written as plain loops with std::fma
// over small fixed-size arrays, which the compiler keeps in vector registers.
//
// Summation order, part of every kernel's definition (so results are the same bits on every machine,
// compiler and thread count, and emulated rounding stays reproducible):
//   score  s_ij = fma(q_i[D-1], k_j[D-1], ... fma(q_i[1], k_j[1], fma(q_i[0], k_j[0], 0)))   (d ascending)
//   output acc_i[d] = fma(p_i,j, v_j[d], acc_i[d]) for j ascending
//   row sums: key j goes to lane j mod 16, lanes add in j order, then lane[i] += lane[i + w] for
//             w = 8, 4, 2, 1 and the sum is lane[0]
// Keys a row does not see enter the blocks with probability exactly 0, which leaves every sum and
// accumulator unchanged (x + 0 = x, fma(0, v, a) = a for finite v), so a block may span the union of
// several rows' key ranges without changing any row's result.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "kernels/fast_math.hpp"
#include "src/base/parallel.hpp"
#include "src/suite/dtype.hpp"
#include "src/suite/problem.hpp"

namespace attn {

constexpr int kRows = 8;       // rows of Q per register block
constexpr int kKeyBlock = 32;  // keys per packed K block and per QKᵀ register block
constexpr int kDimBlock = 32;  // output dims per P·V register block
constexpr int kLanes = 16;     // lanes of the row reductions

/// K of one (batch, kv head) transposed in blocks of J keys: element (j, d) at
/// [(j / J) · D + d] · J + j % J, keys past Sk zero. P·V reads V as rows of `dpad` values (D rounded
/// up to a multiple of C, zero padded), so the product can run over whole vector registers.
template <class T, int J, int C>
struct PackedKV {
  std::int64_t D = 0, dpad = 0, kpad = 0, heads = 0;  // kpad: Sk rounded up to J; heads: B · Hkv
  std::unique_ptr<T[]> k, v;  // not value-initialised: the constructor writes every element once

  PackedKV(const Shape& s, const float* kin, const float* vin, int threads)
      : D(s.head_dim), dpad((s.head_dim + C - 1) / C * C), kpad((s.kv_tokens + J - 1) / J * J),
        heads(s.batch * s.kv_heads), k(new T[heads * kpad * D]), v(new T[heads * kpad * dpad]) {
    parallel_for(heads, threads, [&](std::int64_t bg) {
      const std::int64_t b = bg / s.kv_heads, g = bg % s.kv_heads;
      for (std::int64_t j = 0; j < kpad; ++j) {
        T* kb = key_block(bg, j / J) + j % J;
        T* vr = value_row(bg, j);
        const bool real = j < s.kv_tokens;
        const float* ksrc = real ? &kin[bshd(b, j, g, 0, s.kv_tokens, s.kv_heads, D)] : nullptr;
        const float* vsrc = real ? &vin[bshd(b, j, g, 0, s.kv_tokens, s.kv_heads, D)] : nullptr;
        for (std::int64_t d = 0; d < D; ++d) kb[d * J] = real ? T(ksrc[d]) : T(0);
        for (std::int64_t d = 0; d < dpad; ++d) vr[d] = real && d < D ? T(vsrc[d]) : T(0);
      }
    });
  }
  T* key_block(std::int64_t bg, std::int64_t blk) { return &k[(bg * kpad + blk * J) * D]; }
  const T* key_block(std::int64_t bg, std::int64_t blk) const { return &k[(bg * kpad + blk * J) * D]; }
  T* value_row(std::int64_t bg, std::int64_t j) { return &v[(bg * kpad + j) * dpad]; }
  const T* value_row(std::int64_t bg, std::int64_t j) const { return &v[(bg * kpad + j) * dpad]; }
};

/// s[r · lds + j - j0] = <q_r, k_j> for r < R and j in [j0, j1), both multiples of J.
/// q: R row pointers of D values; kb: the PackedKV key blocks of one (batch, kv head).
/// K may be stored narrower than T (golden reads float K into float64 sums: exact, half the traffic).
template <class T, int R, int J, class KT = T>
ATTN_INLINE void qk_block(const T* const* q, const KT* kb, std::int64_t D, std::int64_t j0, std::int64_t j1, T* s,
                          std::int64_t lds) {
  for (std::int64_t jb = j0; jb < j1; jb += J) {
    T a[R][J] = {};
    const KT* k = kb + jb * D;
    for (std::int64_t d = 0; d < D; ++d, k += J)
      for (int r = 0; r < R; ++r) {
        const T x = q[r][d];
        for (int j = 0; j < J; ++j) a[r][j] = std::fma(x, T(k[j]), a[r][j]);
      }
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j) s[r * lds + (jb - j0) + j] = a[r][j];
  }
}

/// qk_block for R rows stored `ld` values apart (row r at q + r · ld): one base register and a
/// stride instead of R pointers, which the backward's S and dP blocks ran out of registers for
/// (GCC kept them in vector registers and moved one back per broadcast).
template <class T, int R, int J, class KT = T>
ATTN_INLINE void qk_block_rows(const T* q, std::int64_t ld, const KT* kb, std::int64_t D, std::int64_t j0,
                               std::int64_t j1, T* s, std::int64_t lds) {
  for (std::int64_t jb = j0; jb < j1; jb += J) {
    T a[R][J] = {};
    const KT* k = kb + jb * D;
    for (std::int64_t d = 0; d < D; ++d, k += J)
      for (int r = 0; r < R; ++r) {
        const T x = q[r * ld + d];
        for (int j = 0; j < J; ++j) a[r][j] = std::fma(x, T(k[j]), a[r][j]);
      }
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < J; ++j) s[r * lds + (jb - j0) + j] = a[r][j];
  }
}

/// x rounded to Fmt (f32: unchanged; bf16, f16: round_bf16_finite, round_f16_finite), chosen at
/// compile time so that the fp32 loops carry no rounding at all.
template <DType Fmt>
ATTN_INLINE float round_fast(float x) {
  static_assert(Fmt == DType::f32 || Fmt == DType::bf16 || Fmt == DType::f16, "a format with a fast rounding");
  if constexpr (Fmt == DType::bf16) return round_bf16_finite(x);
  else if constexpr (Fmt == DType::f16) return round_f16_finite(x);
  else return x;
}

/// acc[r · dpad + d] = fma(p[r · ldp + j - j0], v_j[d], acc[r · dpad + d]) for j ascending in [j0, j1).
/// With Acc bf16 or f16 (a recipe's acc_pv, or the acc_bf16 mutant) the accumulator is rounded to
/// that format after every key's fma, as a kernel that keeps it in that format: convert, fma in fp32,
/// store. V may be stored narrower than T, as K in qk_block.
template <class T, int R, int C, DType Acc = DType::f32, class VT = T>
ATTN_INLINE void pv_block(const T* p, std::int64_t ldp, const VT* vrows, std::int64_t dpad, std::int64_t j0,
                          std::int64_t j1, T* acc) {
  for (std::int64_t c0 = 0; c0 < dpad; c0 += C) {
    T a[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) a[r][c] = acc[r * dpad + c0 + c];
    for (std::int64_t j = j0; j < j1; ++j) {
      const VT* v = vrows + j * dpad + c0;
      for (int r = 0; r < R; ++r) {
        const T x = p[r * ldp + (j - j0)];
        for (int c = 0; c < C; ++c) {
          a[r][c] = std::fma(x, T(v[c]), a[r][c]);
          if constexpr (Acc != DType::f32) a[r][c] = round_fast<Acc>(a[r][c]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r * dpad + c0 + c] = a[r][c];
  }
}

/// acc[r · dpad + d] = fma(p[(j - j0) · ldp + r], v_j[d], acc[r · dpad + d]) for j ascending in
/// [j0, j1): pv_block with p transposed, i.e. Pᵀ·V for R columns of a row-major P (the backward's
/// dV += Pᵀ dO and dK += dSᵀ Q, R keys at a time over the query rows j).
template <class T, int R, int C>
ATTN_INLINE void ptv_block(const T* p, std::int64_t ldp, const T* vrows, std::int64_t dpad, std::int64_t j0,
                           std::int64_t j1, T* acc) {
  for (std::int64_t c0 = 0; c0 < dpad; c0 += C) {
    T a[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) a[r][c] = acc[r * dpad + c0 + c];
    for (std::int64_t j = j0; j < j1; ++j) {
      const T* v = vrows + j * dpad + c0;
      const T* pj = p + (j - j0) * ldp;
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) a[r][c] = std::fma(pj[r], v[c], a[r][c]);
    }
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r * dpad + c0 + c] = a[r][c];
  }
}

/// max of x[0, n) (n a multiple of 16); -inf for n = 0.
template <class T>
ATTN_INLINE T row_max(const T* x, std::int64_t n) {
  T lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = -INFINITY;
  for (std::int64_t j = 0; j < n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = lane[l] < x[j + l] ? x[j + l] : lane[l];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] = lane[l] < lane[l + w] ? lane[l + w] : lane[l];
  return lane[0];
}

/// The sum of x[0, n) in the lane order of the file comment (n a multiple of 16; x[0] is a key whose
/// index is a multiple of 16).
template <class T>
ATTN_INLINE T row_sum(const T* x, std::int64_t n) {
  T lane[kLanes] = {};
  for (std::int64_t j = 0; j < n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += x[j + l];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) lane[l] += lane[l + w];
  return lane[0];
}

/// Rounds x[0, n) to t exactly as round_to does (e4m3 and e5m2 unscaled and saturating;
/// int8 is not a rounding, see round_to).
ATTN_INLINE void round_span(DType t, float* x, std::int64_t n) {
  if (t == DType::f32) return;
  if (t == DType::bf16)
    for (std::int64_t j = 0; j < n; ++j) x[j] = round_bf16_finite(x[j]);
  else if (t == DType::f16)
    for (std::int64_t j = 0; j < n; ++j) x[j] = std::isfinite(x[j]) ? round_f16_finite(x[j]) : round_f16(x[j]);
  else round_all(t, {x, static_cast<std::size_t>(n)});
}

/// The key span [lo, hi) of a block of rows whose own spans are given, widened to multiples of J.
struct Span {
  std::int64_t lo = 0, hi = 0;
  bool empty() const { return lo >= hi; }
  void add(std::int64_t a, std::int64_t e) {
    if (a >= e) return;
    if (empty()) lo = a, hi = e;
    else lo = std::min(lo, a), hi = std::max(hi, e);
  }
  Span aligned(std::int64_t J) const { return empty() ? Span{} : Span{lo / J * J, (hi + J - 1) / J * J}; }
};

}  // namespace attn
