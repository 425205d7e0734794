#!/usr/bin/env bash
# Google Benchmark microbenchmarks of the inner kernels (bench/kernels_bench.cpp): installs
# libbenchmark-dev when missing, builds the attn_diff_microbench target in the usual build folder
# and runs it. Arguments go to the benchmark binary, e.g.
#   bash scripts/microbench.sh --benchmark_filter='BM_tiled|BM_blocks' --benchmark_repetitions=5
# The default build and CI never need libbenchmark-dev; only this script does.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"

# Installs what is missing, configures (now finding benchmark) and builds the default targets.
ATTN_DIFF_EXTRA_PACKAGES=libbenchmark-dev bash "$ATTN_DIFF_ROOT/scripts/setup.sh"
cmake --build "$ATTN_DIFF_BUILD" --target attn_diff_microbench --parallel "$(nproc)" >&2
exec "$ATTN_DIFF_BUILD/attn_diff_microbench" "$@"
