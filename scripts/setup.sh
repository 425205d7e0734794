#!/usr/bin/env bash
# Shared set-up of scripts/run.sh and scripts/test.sh: installs the Debian packages attn-diff needs
# when any is missing (plus ATTN_DIFF_EXTRA_PACKAGES, for the scripts that need more), then configures
# and builds it in Release under build/: every target, or only those ATTN_DIFF_TARGETS names
# (space-separated; scripts/run.sh sets attn-diff).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/install_packages.sh"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"

cmake -S "$ATTN_DIFF_ROOT" -B "$ATTN_DIFF_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for t in ${ATTN_DIFF_TARGETS:-}; do targets+=(--target "$t"); done
# A full build starts with the core library alone: it must build without src/cli and CLI11.
if [ ${#targets[@]} -eq 0 ]; then cmake --build "$ATTN_DIFF_BUILD" --parallel "$(nproc)" --target attn_diff_core >&2; fi
cmake --build "$ATTN_DIFF_BUILD" --parallel "$(nproc)" "${targets[@]}" >&2
