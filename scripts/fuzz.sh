#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and runs each for a bounded time.
#   bash scripts/fuzz.sh               60 seconds per target, every target
#   bash scripts/fuzz.sh 600 npy       10 minutes of the npy target only
# Targets: config, npy, safetensors, report (a JSON report as merge reads it), dump_case (a dump's
# case.json as compare and diagnose read it). Seeds come from tests/fuzz/corpus/<target>/ and
# tests/fuzz/regressions/<target>/; what the fuzzer learns grows build-fuzz/corpus/<target>/, and a
# finding is saved as build-fuzz/artifacts/<target>/crash-*. Copy a finding into
# tests/fuzz/regressions/<target>/ once fixed: tests/io/fuzz_regression_test.cpp replays it in the
# normal suite. Exit status 1 when any target found something.
set -euo pipefail
ATTN_DIFF_EXTRA_PACKAGES="clang libclang-rt-14-dev" source "$(dirname "${BASH_SOURCE[0]}")/robust_setup.sh"

seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config npy safetensors report dump_case)
build="${ATTN_DIFF_FUZZ_BUILD:-$ATTN_DIFF_ROOT/build-fuzz}"

cmake -S "$ATTN_DIFF_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DATTN_DIFF_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" --parallel "$ATTN_DIFF_JOBS" --target "${targets[@]/%/_fuzz}" >&2

status=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  dict=()
  [ -f "$ATTN_DIFF_ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ATTN_DIFF_ROOT/tests/fuzz/$t.dict")
  log="$build/$t.log"
  echo "== $t: ${seconds}s" >&2
  set +e
  ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
    "$build/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "${dict[@]}" \
    "$build/corpus/$t" "$ATTN_DIFF_ROOT/tests/fuzz/corpus/$t" "$ATTN_DIFF_ROOT/tests/fuzz/regressions/$t" \
    >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  if [ "$rc" -eq 0 ]; then
    echo "$t: ok, ${execs:-?} executions in ${seconds}s; last: ${last}"
  else
    status=1
    echo "$t: FINDING (exit $rc), see $log and $build/artifacts/$t/"
    grep -E 'ERROR|runtime error|property broken|Test unit written' "$log" | head -5 || true
  fi
done
exit "$status"
