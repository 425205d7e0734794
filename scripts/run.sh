#!/usr/bin/env bash
# Installs what is missing, builds, and runs attn-diff with the given arguments.
#   bash scripts/run.sh --config configs/phase1.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ATTN_DIFF_ROOT"
exec "$ATTN_DIFF_BUILD/attn-diff" "$@"
