#!/usr/bin/env bash
# Sourced by scripts/setup.sh and scripts/robust_setup.sh: installs the Debian packages attn-diff
# builds with, plus those in ATTN_DIFF_EXTRA_PACKAGES (scripts/test.sh: the XML parser and the browser
# the report tests use, pybind11, the Python headers, NumPy, pytest and PyTorch for the Python module
# and its tests; fuzz.sh: clang), when any is missing. The command line alone (scripts/run.sh) needs
# none of those: without pybind11 the build skips the Python module with a note.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(g++ cmake ninja-build libcli11-dev nlohmann-json3-dev libfmt-dev catch2)
read -r -a extra <<<"${ATTN_DIFF_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "attn-diff: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
