#!/usr/bin/env bash
# Shared set-up of scripts/run.sh and scripts/test.sh: installs the Debian packages attn-diff needs
# when any is missing (plus ATTN_DIFF_EXTRA_PACKAGES, for the scripts that need more), then configures and
# builds it in Release under build/.
set -euo pipefail

ATTN_DIFF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ATTN_DIFF_BUILD="${ATTN_DIFF_BUILD:-$ATTN_DIFF_ROOT/build}"
packages=(g++ cmake ninja-build libcli11-dev nlohmann-json3-dev libfmt-dev catch2 libxtensor-dev)
# Packages only a caller needs (scripts/test.sh: the XML parser and the browser the report tests use).
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

cmake -S "$ATTN_DIFF_ROOT" -B "$ATTN_DIFF_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ATTN_DIFF_BUILD" --parallel "$(nproc)" >&2
