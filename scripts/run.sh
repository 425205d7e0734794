#!/usr/bin/env bash
# Installs what is missing, builds build/attn-diff (that target only: the tests and helpers are
# scripts/test.sh's), and runs it with the given arguments.
#   bash scripts/run.sh --config configs/phase1.json
set -euo pipefail
export ATTN_DIFF_TARGETS=attn-diff
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ATTN_DIFF_ROOT"
exec "$ATTN_DIFF_BUILD/attn-diff" "$@"
