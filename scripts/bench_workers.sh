#!/usr/bin/env bash
# The candidate benchmark (README "Check your own kernel", docs/workers.md "How fast"): phase1-3
# (35 cases, three `run` calls) judged with a PyTorch kernel started per case (--candidate-cmd),
# the same with --candidate-jobs 2, and kept warm as a worker (--candidate-worker), serially and
# with two jobs; then the C++ example worker and the built-in kernel. Each figure is the median of
# --repeats wall times of the three runs together; every run must pass all its cases.
#   bash scripts/bench_workers.sh            # about 5 minutes on 2 cores
#   bash scripts/bench_workers.sh --repeats 1
# Needs the build (attn-diff, build/python/attn_diff, build/tests/example_worker) and python3-torch.
# Not a test: the numbers depend on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ATTN_DIFF_BUILD:-$ROOT/build}"
REPEATS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeats) REPEATS="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "$0: error: unknown argument '$1' (--repeats N)" >&2; exit 2 ;;
  esac
done
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || { echo "$0: error: --repeats takes a positive integer, got '$REPEATS'" >&2; exit 2; }
for f in "$BUILD/attn-diff" "$BUILD/tests/example_worker"; do
  [[ -x "$f" ]] || { echo "$0: error: build attn-diff and its tests first (README set-up): no $f" >&2; exit 2; }
done
[[ -d "$BUILD/python/attn_diff" ]] ||
  { echo "$0: error: build the Python module first (README set-up): no $BUILD/python/attn_diff" >&2; exit 2; }
cd "$ROOT"
export PYTHONPATH="$BUILD/python${PYTHONPATH:+:$PYTHONPATH}"

# Wall seconds of phase1-3 run with these extra arguments; exits if a run does not pass.
three_phases() {
  local start end
  start=$(date +%s.%N)
  for p in 1 2 3; do
    if ! "$BUILD/attn-diff" run -c "configs/phase$p.json" -q "$@" >/tmp/attn-diff-bench-workers.log 2>&1; then
      echo "$0: error: phase$p did not pass with: $*" >&2
      tail -5 /tmp/attn-diff-bench-workers.log >&2
      exit 3
    fi
  done
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

measure() {
  local label="$1"; shift
  local times=()
  for ((r = 0; r < REPEATS; ++r)); do times+=("$(three_phases "$@")"); done
  local m
  m=$(printf '%s\n' "${times[@]}" | median)
  printf '%-56s %7.2f s   (runs: %s)\n' "$label" "$m" "${times[*]}" >&2
  echo "$m"
}

PER_CASE='/usr/bin/python3 scripts/torch_candidate.py {inputs} {out}'
WORKER='/usr/bin/python3 examples/pytorch/worker.py'
echo "phase1-3 (35 cases), median of $REPEATS; $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)" >&2
serial=$(measure "--candidate-cmd torch_candidate.py" --candidate-cmd "$PER_CASE")
jobs2=$(measure "--candidate-cmd torch_candidate.py --candidate-jobs 2" --candidate-cmd "$PER_CASE" --candidate-jobs 2)
worker=$(measure "--candidate-worker examples/pytorch/worker.py" --candidate-worker "$WORKER")
worker2=$(measure "--candidate-worker ... --candidate-jobs 2" --candidate-worker "$WORKER" --candidate-jobs 2)
measure "--candidate-worker torch_candidate.py --worker" --candidate-worker '/usr/bin/python3 scripts/torch_candidate.py --worker' >/dev/null
measure "--candidate-worker build/tests/example_worker (C++)" --candidate-worker "$BUILD/tests/example_worker" >/dev/null
measure "the built-in tiled kernel" >/dev/null
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "per-case processes, 2 jobs / 1 job: $(ratio "$jobs2" "$serial")" >&2
echo "worker / per-case processes:        $(ratio "$worker" "$serial")" >&2
echo "worker, 2 jobs / 1 job:             $(ratio "$worker2" "$worker")" >&2
