#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
#   bash scripts/test.sh            (extra arguments go to ctest, e.g. -R config)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ATTN_DIFF_BUILD"
exec ctest --output-on-failure --parallel "$(nproc)" "$@"
