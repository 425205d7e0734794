// FMA chains for the peak probe. The chains are written once, as GCC vector-extension code, and
// instantiated inside functions compiled for their own target (GCC target attributes), dispatched
// at run time: the measured peak is the machine's whatever -march the rest of attn-diff was built
// for, and the binary still runs on an older CPU. ISO C++ mode keeps GCC from contracting a*b+c
// into an FMA, so CMakeLists.txt builds this one file with -ffp-contract=fast.
#include "src/tools/fma_probe.hpp"

namespace attn {

namespace {

// Enough independent chains to cover FMA latency × FMA ports (Zen 4/5: 4 cycles × 2 pipes) while
// every accumulator stays in a register: 16 of the 32 zmm registers, 12 of the 16 ymm registers
// (two more hold the constants).
constexpr int kChains512 = 16;
constexpr int kChains256 = 12;

// acc = acc·m + c converges to c / (1 - m) = 1: no overflow, no subnormals. No chain starts at 1,
// whose first step GCC would fold to 1 again and so drop the whole chain from the loop.
template <class T, int Bytes, int Chains>
[[gnu::always_inline]] inline double chains(std::int64_t iters) {
  using V [[gnu::vector_size(Bytes)]] = T;
  V acc[Chains];
  for (int i = 0; i < Chains; ++i) acc[i] = V{} + (T(2) + T(1e-3) * T(i));
  const V m = V{} + T(0.9999), c = V{} + T(1e-4);
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < Chains; ++i) acc[i] = acc[i] * m + c;
  }
  double s = 0;
  for (int i = 0; i < Chains; ++i)
    for (int l = 0; l < int(Bytes / sizeof(T)); ++l) s += double(acc[i][l]);
  return s;
}

[[gnu::target("avx512f")]] double chains_avx512(bool f64, std::int64_t iters) {
  return f64 ? chains<double, 64, kChains512>(iters) : chains<float, 64, kChains512>(iters);
}

[[gnu::target("avx2,fma")]] double chains_avx2(bool f64, std::int64_t iters) {
  return f64 ? chains<double, 32, kChains256>(iters) : chains<float, 32, kChains256>(iters);
}

// Without an FMA unit a multiply and an add per step: 2 flops, as one FMA lane counts.
double chains_scalar(bool f64, std::int64_t iters) {
  return f64 ? chains<double, 8, kChains256>(iters) : chains<float, 4, kChains256>(iters);
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
  const double vector_bytes = isa == ProbeIsa::avx512 ? 64 : isa == ProbeIsa::avx2 ? 32 : 0;
  const double lanes = isa == ProbeIsa::scalar ? 1 : vector_bytes / (f64 ? 8 : 4);
  const int n_chains = isa == ProbeIsa::avx512 ? kChains512 : kChains256;
  switch (isa) {
    case ProbeIsa::avx512: *sink += chains_avx512(f64, iterations); break;
    case ProbeIsa::avx2: *sink += chains_avx2(f64, iterations); break;
    case ProbeIsa::scalar: *sink += chains_scalar(f64, iterations); break;
  }
  return 2.0 * lanes * n_chains * double(iterations);
}

}  // namespace attn
