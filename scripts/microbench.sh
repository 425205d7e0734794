#!/usr/bin/env bash
# Google Benchmark microbenchmarks of the inner kernels (bench/kernels_bench.cpp): installs
# libbenchmark-dev when missing, builds the attn_diff_microbench target in the usual build folder
# and runs it. Arguments go to the benchmark binary, e.g.
#   bash scripts/microbench.sh --benchmark_filter='BM_tiled|lane_dot' --benchmark_repetitions=5
# The default build and CI never need libbenchmark-dev; only this script does.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"

if ! dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "microbench: installing libbenchmark-dev" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends libbenchmark-dev >&2
fi

bash "$ATTN_DIFF_ROOT/scripts/setup.sh"  # the other packages, configure (now finds benchmark), build
cmake --build "$ATTN_DIFF_BUILD" --target attn_diff_microbench --parallel "$(nproc)" >&2
exec "$ATTN_DIFF_BUILD/attn_diff_microbench" "$@"
