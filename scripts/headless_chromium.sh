#!/usr/bin/env bash
# Renders a local HTML file in headless Chromium (Debian's `chromium`; ATTN_DIFF_CHROMIUM picks
# another binary) with no network, no profile and no sandbox (CI runs as root), and either prints
# the DOM after scripts ran or writes a PNG screenshot. Chromium's console log goes to stderr.
#   bash scripts/headless_chromium.sh dom FILE.html
#   bash scripts/headless_chromium.sh screenshot FILE.html OUT.png [WIDTH,HEIGHT]
set -euo pipefail
mode="$1" html="$(realpath "$2")"
chromium="${ATTN_DIFF_CHROMIUM:-chromium}"
command -v "$chromium" >/dev/null || { echo "error: '$chromium' not found (apt-get install chromium; scripts/test.sh does)" >&2; exit 127; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --disable-extensions --disable-dev-shm-usage
       --user-data-dir="$profile" --enable-logging=stderr --v=0)
case "$mode" in
  dom) exec timeout 90 "$chromium" "${flags[@]}" --dump-dom "file://$html" ;;
  screenshot) exec timeout 90 "$chromium" "${flags[@]}" --hide-scrollbars --window-size="${4:-1400,2000}" \
                --screenshot="$(realpath -m "$3")" "file://$html" ;;
  *) echo "usage: $0 dom FILE.html | screenshot FILE.html OUT.png [W,H]" >&2; exit 2 ;;
esac
