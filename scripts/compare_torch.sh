#!/usr/bin/env bash
# PyTorch's naive gpt-oss attention against attn-diff on the same shape, in one run: installs
# python3-torch and python3-numpy when missing, builds attn-diff, then runs scripts/compare_torch.py
# (arguments go to it), which prints both times and the ratio. Examples:
#   bash scripts/compare_torch.sh                       # 2048 tokens, 64/8 heads, D 64, causal, sinks
#   bash scripts/compare_torch.sh --window 128 -j 2
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"

missing=()
# libopenblas0 is what Debian's libtorch recommends; without it (--no-install-recommends) torch falls
# back to the reference BLAS, about 7x slower on a 2048² matmul here, and the comparison means nothing.
for p in python3-torch python3-numpy libopenblas0; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "compare_torch: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

bash "$ATTN_DIFF_ROOT/scripts/setup.sh"
# Debian's torch is for Debian's interpreter, whatever `python3` on PATH is.
exec /usr/bin/python3 "$ATTN_DIFF_ROOT/scripts/compare_torch.py" --attn-diff "$ATTN_DIFF_BUILD/attn-diff" "$@"
