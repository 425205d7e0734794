#!/usr/bin/env bash
# Builds everything (library, CLI, tests) with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan/ and runs the whole ctest suite under them; any sanitizer report fails the run.
#   bash scripts/sanitize.sh          (extra arguments go to ctest, e.g. -R config)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/robust_setup.sh"

build="${ATTN_DIFF_ASAN_BUILD:-$ATTN_DIFF_ROOT/build-asan}"
cmake -S "$ATTN_DIFF_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTN_DIFF_SANITIZE=ON >/dev/null
cmake --build "$build" --parallel "$ATTN_DIFF_JOBS" >&2

# abort_on_error: a report kills the process with SIGABRT, so a CLI test that expects exit 1 or 2
# cannot mistake a sanitizer's exit code for the tool's.
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="abort_on_error=1:halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
cd "$build"
exec ctest --output-on-failure --parallel "$ATTN_DIFF_JOBS" "$@"
