#!/usr/bin/env python3
"""How fast is attn_diff from Python? Two measurements (docs/python.md, "Performance"):

1. In-process vs --candidate-cmd: judging all 35 cases of phase1-3 with a PyTorch kernel
   (examples/pytorch/kernel.py) from one Python process, wall time of that whole process (interpreter
   start, `import torch`, loading the suites, the kernel, the judgement), against
   `attn-diff run --config phaseN --candidate-cmd '/usr/bin/python3 scripts/torch_candidate.py {inputs} {out}'`
   over the same three suites (one interpreter and one `import torch` per case).
2. The Python layer's overhead over the C++ judge on the gpt-oss 2048-token layer (`attn-diff bench`'s
   default shape: 2048 tokens, 64/8 heads, D 64, causal, sinks, bf16-mixed), judging the correct
   tiled kernel's output (a float32 NumPy array) in a fresh process:
   a. in the same call: the wall time of the first `case.judge(out)` (which prepares the case's
      inputs, golden and naive, then judges) against the core's own time inside that call, the
      result's `seconds` (prepare_case + judge, timed in C++). The difference is all the Python
      layer adds: converting `out`, the pybind11 call, reading the verdict (the report's case object
      is built as a dict only when a metric, the gates or to_json() are read).
   b. across processes: `load_suite` + that `case.judge(out)` against the case's `seconds` of
      `attn-diff compare --json` on a dump of the same case with the same output (the same work in
      the command line, without its file reading).

PyTorch runs with --torch-threads intra-op threads in both paths of 1 (OMP_NUM_THREADS, default 1:
the cases are small, and on a busy 2-core machine two torch threads next to attn-diff's own made the
in-process kernel 10x slower, 3.2 s instead of 0.3 s). Each is repeated --repeats times; the minimum is reported (the machine is shared; the minimum is the
least disturbed run). Prints a Markdown table; --json FILE writes the numbers.

    PYTHONPATH=build/python /usr/bin/python3 scripts/bench_python.py --bin build/attn-diff
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = [os.path.join(ROOT, "configs", f"phase{n}.json") for n in (1, 2, 3)]
SHAPE = {"name": "gpt_oss_layer_2048", "tokens": 2048, "heads": 64, "kv_heads": 8, "head_dim": 64, "causal": True,
         "sinks": {"dist": "normal"}, "precision": "bf16-mixed", "tiles": {"q": 128, "kv": 2048}}

IN_PROCESS = r"""
import sys, time
t0 = time.perf_counter()
import torch, attn_diff
sys.path.insert(0, {example!r})
from kernel import run_case
t1 = time.perf_counter()
suites = [attn_diff.load_suite(p) for p in {suites!r}]
n = passed = 0
kernel = judge = 0.0
for suite in suites:
    for case in suite.cases:
        a = time.perf_counter(); out = run_case(case); b = time.perf_counter()
        r = case.judge(out); c = time.perf_counter()
        kernel += b - a; judge += c - b; n += 1; passed += r.passed
print({{"cases": n, "passed": passed, "import": t1 - t0, "kernel": kernel, "judge": judge}})
"""

OVERHEAD = r"""
import time, numpy as np, attn_diff
out = np.load({out!r})
t0 = time.perf_counter()
case = attn_diff.load_suite({suite!r}).cases[0]
t1 = time.perf_counter()
r = case.judge(out)
passed = r.passed  # what a test reads; the report's case object is built only when a metric is read
t2 = time.perf_counter()
assert passed, r.verdict
print(t1 - t0, t2 - t1, r.to_json()["seconds"])
"""


def wall(cmd, **kw):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def check(proc, what):
    if proc.returncode != 0:
        sys.exit(f"bench_python: {what} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "attn-diff"), help="the attn-diff binary")
    ap.add_argument("--python", default="/usr/bin/python3", help="the interpreter with torch and attn_diff")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each measurement (default 3)")
    ap.add_argument("--skip-cli", action="store_true", help="skip the --candidate-cmd runs (the slow part)")
    ap.add_argument("--torch-threads", type=int, default=1, help="OMP_NUM_THREADS for PyTorch in both paths of 1 (default 1)")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args()
    py = args.python
    os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # inherited by every child process
    res = {"machine": machine(), "torch_threads": args.torch_threads}

    # 1. One process, 35 cases.
    code = IN_PROCESS.format(example=os.path.join(ROOT, "examples", "pytorch"), suites=SUITES)
    runs = []
    for _ in range(args.repeats):
        t, proc = wall([py, "-c", code])
        runs.append((t, eval(check(proc, "the in-process run").strip().splitlines()[-1])))
    t, detail = min(runs, key=lambda r: r[0])
    if detail["passed"] != detail["cases"] or detail["cases"] != 35:
        sys.exit(f"bench_python: in-process: {detail['passed']} of {detail['cases']} cases passed (expected 35 of 35)")
    res["in_process_seconds"] = t
    res["in_process_detail"] = detail

    if not args.skip_cli:
        cand = f"{py} {os.path.join(ROOT, 'scripts', 'torch_candidate.py')} {{inputs}} {{out}}"
        totals = []
        for _ in range(args.repeats):
            total = 0.0
            for suite in SUITES:
                t, proc = wall([args.bin, "run", "-q", "--config", suite, "--candidate-cmd", cand])
                check(proc, f"attn-diff run --config {suite}")
                total += t
            totals.append(total)
        res["candidate_cmd_seconds"] = min(totals)
        res["in_process_fraction"] = res["in_process_seconds"] / res["candidate_cmd_seconds"]

    # 2. Python layer over the C++ judge on the 2048-token shape.
    with tempfile.TemporaryDirectory(prefix="attn-diff-bench-") as tmp:
        suite = os.path.join(tmp, "gpt_oss_2048.json")
        with open(suite, "w") as f:
            json.dump({"suite": "gpt_oss_2048", "cases": [SHAPE]}, f)
        dump = os.path.join(tmp, "dump")
        check(wall([args.bin, "dump", "-q", "--config", suite, "--case", SHAPE["name"], "--out", dump])[1], "attn-diff dump")
        out = os.path.join(dump, "tiled.npy")  # the built-in correct kernel's output: passes
        core, python, call, inside = [], [], [], []
        for i in range(args.repeats):
            rep = os.path.join(tmp, f"r{i}.json")
            check(wall([args.bin, "compare", "-q", "--inputs", dump, "--candidate", out, "--json", rep])[1], "attn-diff compare")
            with open(rep) as f:
                core.append(json.load(f)["cases"][0]["seconds"])
            load, judge, seconds = map(float, check(wall([py, "-c", OVERHEAD.format(out=out, suite=suite)])[1],
                                                    "the Python judge").split())
            python.append(load + judge)
            call.append((judge, seconds))
        res["shape"] = "2048 tokens, 64/8 heads, D 64, causal, sinks, bf16-mixed"
        judge, seconds = min(call, key=lambda c: c[0] - c[1])
        res["judge_call_seconds"], res["judge_call_core_seconds"] = judge, seconds
        res["judge_call_overhead"] = judge / seconds - 1.0
        res["compare_core_seconds"] = min(core)
        res["python_load_judge_seconds"] = min(python)
        res["python_vs_compare"] = min(python) / min(core) - 1.0

    d = res["in_process_detail"]
    print(f"machine: {res['machine']}; PyTorch threads: {args.torch_threads}")
    print("| measurement | seconds |")
    print("|---|---|")
    print(f"| phase1-3 (35 cases) in one Python process, whole process | {res['in_process_seconds']:.2f} |")
    print(f"| ... of which interpreter + `import torch, attn_diff` | {d['import']:.2f} |")
    print(f"| ... of which the PyTorch kernel / `case.judge` | {d['kernel']:.2f} / {d['judge']:.2f} |")
    if "candidate_cmd_seconds" in res:
        print(f"| phase1-3 through `run --candidate-cmd` torch_candidate.py | {res['candidate_cmd_seconds']:.2f} |")
        print(f"| in-process / candidate-cmd | {100 * res['in_process_fraction']:.1f} % |")
    print(f"| 2048-token layer: first `case.judge(out)`, wall | {res['judge_call_seconds']:.3f} |")
    print(f"| ... the core's time inside that call (result `seconds`) | {res['judge_call_core_seconds']:.3f} |")
    print(f"| Python layer overhead in the call | {100 * res['judge_call_overhead']:+.2f} % |")
    print(f"| 2048-token layer: `load_suite` + `case.judge(out)` in Python | {res['python_load_judge_seconds']:.3f} |")
    print(f"| 2048-token layer: `compare --json` case seconds (the CLI's core time) | {res['compare_core_seconds']:.3f} |")
    print(f"| Python against compare | {100 * res['python_vs_compare']:+.1f} % |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
