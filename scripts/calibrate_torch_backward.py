#!/usr/bin/env python3
"""Calibrates the backward gates (SPEC section 10) for PyTorch autograd, the legitimate implementation
users compare against: every case of a backward suite over seeds 0..N-1, its gradients computed by
scripts/torch_candidate.py's formulation in float32 and in the recipe's eager dtype (bf16 for
bf16-mixed), judged by attn_diff with the default gates. Prints the worst use of each gate per
(case, dtype) and every false alarm; exit 1 if there is one.

    PYTHONPATH=build/python /usr/bin/python3 scripts/calibrate_torch_backward.py --seeds 1000 --md out.md

`attn-diff calibrate -c configs/backward.json` does the same for the built-in tiled kernel; the
numbers of both are in docs/calibration.md. --shard K/N runs the seeds s with s % N == K (N
processes in parallel); --merge combines their --json files.
"""
import argparse
import importlib.util
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_torch_candidate():
    spec = importlib.util.spec_from_file_location("torch_candidate", ROOT / "scripts" / "torch_candidate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gate_uses(report_case):
    """{"dq: max_abs_vs_naive": use, ...} for every gate of the case (the output's with no prefix)."""
    def use(g):
        v, b = g.get("value"), g["bound"]
        if v is None:
            return None
        if g["name"] in ("min_pearson", "min_pass_rate"):  # lower bounds: how far below 1 toward the bound
            return 0.0 if v >= 1 else (1 - v) / (1 - b) if b < 1 else float("inf")
        return v / b if b > 0 else (0.0 if v == 0 else float("inf"))
    out = {g["name"]: use(g) for g in report_case["gates"] if g.get("value") is not None}
    for name, t in report_case.get("tensors", {}).items():
        for g in t["gates"]:
            out[f"{name}: {g['name']}"] = use(g)
    return out


def calibrate(config, seeds, shard, dtypes, threads, progress, only=None):
    import numpy as np
    import torch
    import attn_diff
    tc = load_torch_candidate()
    worst, alarms, runs = {}, [], 0
    start = time.time()
    for seed in (only if only else range(seeds)):
        if seed % shard[1] != shard[0]:
            continue
        for case in attn_diff.load_suite(config, threads=threads, seed=seed).cases:
            tensors = {n: torch.from_numpy(np.array(a)) for n, a in case.inputs.items()}
            for dtype in dtypes:
                t = {n: x.numpy() for n, x in tc.run(case.settings, tensors, dtype, "none").items()}
                r = case.judge(t.pop("out"), diagnose=False, **t)
                runs += 1
                rc = r.to_json()
                for gate, u in gate_uses(rc).items():
                    key = f"{case.name}|{dtype}|{gate}"
                    if u is not None and u > worst.get(key, (-1.0, 0))[0]:
                        worst[key] = (u, seed)
                if r.verdict != "pass":
                    alarms.append({"case": case.name, "dtype": dtype, "seed": seed, "failures": rc.get("failures", [])})
        if progress:
            print(f"\rseed {seed + 1}/{seeds}, {runs} runs, {len(alarms)} false alarms, {time.time() - start:.0f} s",
                  end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return {"worst": {k: list(v) for k, v in worst.items()}, "alarms": alarms, "runs": runs,
            "seconds": time.time() - start}


def merge(docs):
    out = {"worst": {}, "alarms": [], "runs": 0, "seconds": 0.0}
    for d in docs:
        out["runs"] += d["runs"]
        out["alarms"] += d["alarms"]
        out["seconds"] = max(out["seconds"], d["seconds"])
        for k, (u, s) in d["worst"].items():
            if u > out["worst"].get(k, (-1.0, 0))[0]:
                out["worst"][k] = (u, s)
    return out


def markdown(doc, seeds, only=None):
    rows = sorted(doc["worst"].items())
    which = f"seeds {', '.join(map(str, only))}" if only else f"seeds 0..{seeds - 1}"
    md = [f"{doc['runs']} runs over {which}, {len(doc['alarms'])} false alarms, "
          f"worst use {max((u for u, _ in doc['worst'].values()), default=0):.3f}", "",
          "| case | dtype | gate | worst use | at seed |", "|---|---|---|---|---|"]
    for k, (u, s) in rows:
        case, dtype, gate = k.split("|")
        md.append(f"| {case} | {dtype} | {gate} | {u:.3f} | {s} |")
    for a in doc["alarms"]:
        md.append(f"\nfalse alarm: {a['case']} {a['dtype']} seed {a['seed']}: {'; '.join(a['failures'])}")
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "backward.json"))
    ap.add_argument("--seeds", type=int, default=1000, help="seeds 0..N-1 (default 1000)")
    ap.add_argument("--shard", default="0/1", help="K/N: only seeds s with s %% N == K")
    ap.add_argument("--only-seeds", type=int, nargs="+", metavar="SEED",
                    help="run these seeds only (re-check a run's false alarms after a gate change)")
    ap.add_argument("--dtype", action="append", choices=["float32", "eager"],
                    help="autograd dtype (repeatable; default both)")
    ap.add_argument("-j", "--threads", type=int, default=0, help="attn_diff threads (default one per core)")
    ap.add_argument("--json", help="write the result as JSON (for --merge)")
    ap.add_argument("--md", help="write the table as Markdown")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="combine the --json files of shards instead of running")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if args.merge:
        doc = merge([json.loads(pathlib.Path(p).read_text()) for p in args.merge])
    else:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= k < n:
            ap.error(f"--shard {args.shard}: K must be in 0..N-1")
        doc = calibrate(args.config, args.seeds, (k, n), args.dtype or ["float32", "eager"], args.threads, not args.quiet,
                        args.only_seeds)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(doc))
    md = markdown(doc, args.seeds, args.only_seeds)
    if args.md:
        pathlib.Path(args.md).write_text(md)
    print(md.split("\n")[0])
    for a in doc["alarms"]:
        print(f"false alarm: {a['case']} {a['dtype']} seed {a['seed']}: {'; '.join(a['failures'])}")
    return 1 if doc["alarms"] else 0


if __name__ == "__main__":
    sys.exit(main())
