#!/usr/bin/env bash
# The Python module's benchmark (docs/python.md, "Performance"): phase1-3 judged in one Python
# process with a PyTorch kernel against `attn-diff run --candidate-cmd` with a Python candidate, and
# the Python layer's overhead over the C++ judge on the gpt-oss 2048-token layer. Needs the build
# (attn-diff and build/python/attn_diff); arguments go to scripts/bench_python.py, e.g.
#   bash scripts/bench_python.sh --repeats 5 --json bench-python.json
# Takes about two minutes on 2 cores. Not a test: the numbers depend on the machine.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"
[[ -x "$ATTN_DIFF_BUILD/attn-diff" && -d "$ATTN_DIFF_BUILD/python/attn_diff" ]] ||
  { echo "$0: error: build attn-diff and its Python module first (README set-up): no $ATTN_DIFF_BUILD/python/attn_diff" >&2; exit 2; }
export PYTHONPATH="$ATTN_DIFF_BUILD/python${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$ATTN_DIFF_ROOT/scripts/bench_python.py" --bin "$ATTN_DIFF_BUILD/attn-diff" "$@"
