// FMA chains for the peak probe. The project builds without -march=native and without -ffast-math,
// and ISO C++ mode keeps GCC from contracting a*b+c, so the chains use FMA intrinsics inside
// functions compiled for their own target (GCC target attributes) and dispatched at run time:
// the measured peak is the machine's, whatever flags the rest of attn-diff was built with.
#include "src/fma_probe.hpp"

#include <immintrin.h>

namespace attn {

namespace {

// Enough independent chains to cover FMA latency × FMA ports (Zen 4: 4 cycles × 2 256-bit pipes;
// Intel server parts: 4 × 2 512-bit ports) while every accumulator stays in a register: 16 of the
// 32 zmm registers, 12 of the 16 ymm registers (two more hold the constants).
constexpr int kChains512 = 16;
constexpr int kChains256 = 12;

// acc = acc·m + c converges to c / (1 - m): no overflow, no subnormals, no constant folding.
__attribute__((target("avx512f"))) double chains_avx512(bool f64, std::int64_t iters) {
  if (f64) {
    __m512d acc[kChains512];
    for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_set1_pd(1.0 + 1e-3 * i);
    const __m512d m = _mm512_set1_pd(0.999999), c = _mm512_set1_pd(1e-6);
    for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_fmadd_pd(acc[i], m, c);
    }
    __m512d s = acc[0];
    for (int i = 1; i < kChains512; ++i) s = _mm512_add_pd(s, acc[i]);
    return _mm512_reduce_add_pd(s);
  }
  __m512 acc[kChains512];
  for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_set1_ps(1.0f + 1e-3f * float(i));
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains512; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) double chains_avx2(bool f64, std::int64_t iters) {
  double out[4];
  if (f64) {
    __m256d acc[kChains256];
    for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_set1_pd(1.0 + 1e-3 * i);
    const __m256d m = _mm256_set1_pd(0.999999), c = _mm256_set1_pd(1e-6);
    for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_fmadd_pd(acc[i], m, c);
    }
    __m256d s = acc[0];
    for (int i = 1; i < kChains256; ++i) s = _mm256_add_pd(s, acc[i]);
    _mm256_storeu_pd(out, s);
    return out[0] + out[1] + out[2] + out[3];
  }
  __m256 acc[kChains256];
  for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_set1_ps(1.0f + 1e-3f * float(i));
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains256; ++i) s = _mm256_add_ps(s, acc[i]);
  float f[8];
  _mm256_storeu_ps(f, s);
  return double(f[0]) + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}

// No FMA instruction: a multiply and an add per chain step (std::fma would be a libm call).
template <class T>
double chains_scalar(std::int64_t iters) {
  T acc[kChains256];
  for (int i = 0; i < kChains256; ++i) acc[i] = T(1) + T(1e-3) * T(i);
  const T m = T(0.9999), c = T(1e-4);
  for (std::int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains256; ++i) acc[i] = acc[i] * m + c;
  double s = 0;
  for (T a : acc) s += double(a);
  return s;
}

}  // namespace

ProbeIsa best_probe_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return ProbeIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ProbeIsa::avx2;
  return ProbeIsa::scalar;
}

const char* probe_isa_name(ProbeIsa isa) {
  switch (isa) {
    case ProbeIsa::avx512: return "avx512";
    case ProbeIsa::avx2: return "avx2";
    case ProbeIsa::scalar: return "scalar";
  }
  return "?";
}

double run_fma_chains(ProbeIsa isa, bool f64, std::int64_t iterations, double* sink) {
  const double lanes_f32 = isa == ProbeIsa::avx512 ? 16 : isa == ProbeIsa::avx2 ? 8 : 1;
  const double lanes = f64 ? lanes_f32 / 2 : lanes_f32;
  const int chains = isa == ProbeIsa::avx512 ? kChains512 : kChains256;
  switch (isa) {
    case ProbeIsa::avx512: *sink += chains_avx512(f64, iterations); break;
    case ProbeIsa::avx2: *sink += chains_avx2(f64, iterations); break;
    case ProbeIsa::scalar: *sink += f64 ? chains_scalar<double>(iterations) : chains_scalar<float>(iterations); break;
  }
  // Scalar lanes count 1: multiply + add is 2 flops, the same as one FMA.
  return 2.0 * lanes * chains * double(iterations);
}

}  // namespace attn
