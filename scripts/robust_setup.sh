#!/usr/bin/env bash
# Shared by scripts/fuzz.sh and scripts/sanitize.sh: installs the Debian packages a robustness build
# needs (the usual ones plus ATTN_DIFF_EXTRA_PACKAGES) when any is missing.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/install_packages.sh"
# Half the cores by default: these builds are long and usually share the machine.
ATTN_DIFF_JOBS="${ATTN_DIFF_JOBS:-$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))}"
