#!/usr/bin/env bash
# PyTorch's naive gpt-oss attention against attn-diff on the same shape, in one run: installs
# python3-torch and python3-numpy when missing, builds attn-diff, then runs scripts/compare_torch.py
# (arguments go to it), which prints both times and the ratio. Examples:
#   bash scripts/compare_torch.sh                       # 2048 tokens, 64/8 heads, D 64, causal, sinks
#   bash scripts/compare_torch.sh --window 128 -j 2
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"

# libopenblas0 is what Debian's libtorch recommends; without it (--no-install-recommends) torch falls
# back to the reference BLAS, about 7x slower on a 2048² matmul here, and the comparison means nothing.
ATTN_DIFF_EXTRA_PACKAGES="python3-torch python3-numpy libopenblas0" bash "$ATTN_DIFF_ROOT/scripts/setup.sh"
# Debian's torch is for Debian's interpreter, whatever `python3` on PATH is.
exec /usr/bin/python3 "$ATTN_DIFF_ROOT/scripts/compare_torch.py" --attn-diff "$ATTN_DIFF_BUILD/attn-diff" "$@"
