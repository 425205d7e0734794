// The FMA throughput probe behind measure_peak (src/tools/bench.hpp): independent FMA chains in the
// widest vectors this CPU runs, picked at run time so the binary still runs on older CPUs.
#pragma once

#include <cstdint>

namespace attn {

enum class ProbeIsa { scalar, avx2, avx512 };

/// The widest instruction set the probe can use on this CPU.
ProbeIsa best_probe_isa();
const char* probe_isa_name(ProbeIsa isa);

/// Runs `iterations` rounds of independent FMA chains in float64 (`f64`) or float32 and returns the
/// flops done (2 per FMA lane). `sink` receives a value that depends on every chain, so the compiler
/// cannot drop any of them.
double run_fma_chains(ProbeIsa isa, bool f64, std::int64_t iterations, double* sink);

}  // namespace attn
