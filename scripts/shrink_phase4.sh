#!/usr/bin/env bash
# Issue 8's check: every built-in mutant that fails a phase4 case is shrunk; prints one line per
# (case, mutant) with the wall time and the minimal case's tokens and keys. About 4 minutes on 2 cores.
#   bash scripts/shrink_phase4.sh [OUT_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
bin="$ATTN_DIFF_BUILD/attn-diff"
config="$ATTN_DIFF_ROOT/configs/phase4.json"
cases=$(/usr/bin/python3 -c "import json,sys; print(' '.join(c['name'] for c in json.load(open(sys.argv[1]))['cases']))" "$config")
for m in $("$bin" list-mutants | awk '{print $1}'); do
  for c in $cases; do
    rc=0
    "$bin" run -c "$config" --case "$c" --mutant "$m" --quiet --no-diagnose >/dev/null 2>&1 || rc=$?
    if [ "$rc" -ne 1 ]; then echo "$c $m: passes (exit $rc), nothing to shrink"; continue; fi
    start=$(date +%s.%N)
    "$bin" shrink -c "$config" --case "$c" --mutant "$m" -q -o "$out/$c.$m.json" 2>/dev/null || true
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    /usr/bin/python3 - "$out/$c.$m.json" "$c" "$m" "$seconds" <<'PY'
import json, sys
path, case, mutant, seconds = sys.argv[1:]
k = json.load(open(path))["cases"][0]
print(f"{case} {mutant}: shrunk in {float(seconds):.1f} s to {k.get('tokens', 1)} queries, {k.get('kv_tokens', k.get('tokens', 1))} keys")
PY
  done
done
