#!/usr/bin/env bash
# Regenerates the README's screenshot of the HTML report from a real run: phase 1 judged against
# the window_off_by_one mutant (which fails, exit 1), rendered by headless Chromium.
#   bash scripts/report_screenshot.sh [OUT.png]     (default docs/html-report.png; needs a build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ATTN_DIFF_BUILD:-$root/build}/attn-diff"
out="$(realpath -m "${1:-$root/docs/html-report.png}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$root"
status=0
"$bin" run -c configs/phase1.json --mutant window_off_by_one --html "$tmp/report.html" --quiet || status=$?
[ "$status" -eq 1 ] || { echo "error: expected the mutant run to fail (exit 1), got $status" >&2; exit 1; }
bash scripts/headless_chromium.sh screenshot "$tmp/report.html" "$out" 1400,1800 2>/dev/null
echo "wrote $out"
