#!/usr/bin/env bash
# The precision fingerprint's cost on the gpt-oss 2048-token prefill shape (B=1, Sq=Sk=2048, H=64 on
# 8 KV heads, D=64, sinks, causal), declared fp32, against a candidate that is another
# implementation (the split_kv variant) storing K and V as fp16: `diagnose --precision` must name
# fp32+k=fp16+v=fp16 and the fingerprint must take under 10 s (issue #18). Then the same for the
# ggml-like test candidate (fp16 K/V, P·V accumulated in fp16, keys one at a time), which must be
# named fp32+k=fp16+v=fp16+acc_pv=fp16: its fingerprint also runs the per_key order. Not a test: timings.
# usage: scripts/bench_fingerprint.sh [BUILD_DIR] (default build)
set -euo pipefail
B=${1:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat > "$W/suite.json" <<'JSON'
{ "suite": "fingerprint-bench",
  "cases": [ { "name": "gpt_oss_2048", "tokens": 2048, "heads": 64, "kv_heads": 8, "head_dim": 64,
               "causal": true, "sinks": { "dist": "normal", "std": 1.0 }, "precision": "fp32" } ] }
JSON
"$B/attn-diff" dump -q -c "$W/suite.json" --case gpt_oss_2048 --out "$W/declared"
"$B/attn-diff" dump -q -c "$W/suite.json" --case gpt_oss_2048 --precision fp32+kv=fp16 --out "$W/kv16"
"$B/tests/attn_diff_candidate" variant:split_kv "$W/kv16" "$W/candidate.npy"
echo "ggml:f16 candidate (a scalar loop: about half a minute)..." >&2
"$B/tests/attn_diff_candidate" ggml:f16 "$W/declared" "$W/ggml.npy"
for candidate in candidate ggml; do
  for run in 1 2 3; do
    /usr/bin/time -f "diagnose --precision ($candidate): %e s wall, %M KB peak" \
      "$B/attn-diff" diagnose -i "$W/declared" --candidate "$W/$candidate.npy" --precision --json "$W/d.json" | tail -1
    /usr/bin/python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['fingerprint']; print('fingerprint: matches', f['matches'], '|', f['kernel_runs'], 'tiled runs,', f['per_key_runs'], 'per_key runs on', f['scope'], '|', round(f['seconds'], 2), 's')" "$W/d.json"
  done
done
