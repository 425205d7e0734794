#!/usr/bin/env bash
# Shared by scripts/fuzz.sh and scripts/sanitize.sh: installs the Debian packages a robustness build
# needs (the usual ones plus what is passed in EXTRA_PACKAGES) when any is missing.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(g++ cmake ninja-build libcli11-dev nlohmann-json3-dev libfmt-dev catch2 libxtensor-dev ${EXTRA_PACKAGES:-})
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
# Half the cores by default: these builds are long and usually share the machine.
ATTN_DIFF_JOBS="${ATTN_DIFF_JOBS:-$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))}"
