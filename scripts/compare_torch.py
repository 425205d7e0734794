#!/usr/bin/env python3
"""Times PyTorch's naive gpt-oss attention against attn-diff on the same shape, in one run.

The PyTorch side is gpt-oss's own reference `sdpa` (einsum Q·Kᵀ, scale, causal and sliding-window
mask with -inf, the sink logit concatenated as a column, softmax, the sink column dropped, einsum
with V) in float32 on the CPU with torch.set_num_threads(N): the "naive fp32 sdpa pass" the
performance targets are set against. Its output is checked against scripts/torch_candidate.py's
SPEC formulation before timing. The attn-diff side is `attn-diff bench --json` (golden, naive and
tiled medians) and the wall time of `attn-diff run` on a one-case suite of the same shape.

    /usr/bin/python3 scripts/compare_torch.py --attn-diff build/attn-diff --threads 2
    /usr/bin/python3 scripts/compare_torch.py --attn-diff build/attn-diff --window 128

gpt-oss attention is prefill-shaped here: batch 1, causal, kv_tokens = tokens, sinks on.
Needs python3-torch and python3-numpy (scripts/compare_torch.sh installs them).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_candidate  # noqa: E402  (the SPEC formulation, used as the correctness check)


def gpt_oss_sdpa(Q, K, V, S, sm_scale, sliding_window=0):
    """gpt-oss's reference attention. Q: [T, Hkv, q_mult, D], K, V: [T, Hkv, D], S: [H] -> [T, H*D]."""
    n_tokens, n_heads, q_mult, d_head = Q.shape
    K = K[:, :, None, :].expand(-1, -1, q_mult, -1)
    V = V[:, :, None, :].expand(-1, -1, q_mult, -1)
    S = S.reshape(n_heads, q_mult, 1, 1).expand(-1, -1, n_tokens, -1)
    mask = torch.triu(Q.new_full((n_tokens, n_tokens), -float("inf")), diagonal=1)
    if sliding_window > 0:
        mask += torch.tril(mask.new_full((n_tokens, n_tokens), -float("inf")), diagonal=-sliding_window)
    QK = torch.einsum("qhmd,khmd->hmqk", Q, K)
    QK *= sm_scale
    QK += mask[None, None, :, :]
    QK = torch.cat([QK, S], dim=-1)
    W = torch.softmax(QK, dim=-1)
    W = W[..., :-1]
    attn = torch.einsum("hmqk,khmd->qhmd", W, V)
    return attn.reshape(n_tokens, -1)


def timed(fn, warmup, repeats):
    """Wall-clock median, min, max, and the median process CPU time (all threads; like attn-diff
    bench's `cpu s`, the better figure when other jobs share the machine)."""
    for _ in range(warmup):
        fn()
    secs, cpu = [], []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"median": statistics.median(secs), "min": min(secs), "max": max(secs), "all": secs,
            "cpu_median": statistics.median(cpu)}


def shape_args(a):
    return ["--tokens", str(a.tokens), "--heads", str(a.heads), "--kv-heads", str(a.kv_heads),
            "--head-dim", str(a.head_dim), "--window", str(a.window), "--threads", str(a.threads)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attn-diff", default="build/attn-diff", help="the attn-diff binary (default build/attn-diff)")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=64)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--window", type=int, default=0, help="sliding window (0 = none; gpt-oss even layers: 128)")
    ap.add_argument("--threads", "-j", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--run-repeats", type=int, default=1, help="timed `attn-diff run` passes (default 1)")
    ap.add_argument("--stages", default="golden,naive,tiled", help="attn-diff bench --only (default golden,naive,tiled)")
    ap.add_argument("--json", help="write both sides' numbers to this file")
    a = ap.parse_args()
    if a.heads % a.kv_heads:
        ap.error("--heads must be a multiple of --kv-heads")
    if not os.access(a.attn_diff, os.X_OK):
        ap.error(f"--attn-diff {a.attn_diff}: no such executable (build it with scripts/setup.sh)")

    torch.set_num_threads(a.threads)
    T, H, Hkv, D = a.tokens, a.heads, a.kv_heads, a.head_dim
    g = torch.Generator().manual_seed(0)
    # bf16 values held in float32, as attn-diff's bf16-mixed inputs are; the computation is float32.
    q = torch.randn(T, H, D, generator=g).bfloat16().float()
    k = torch.randn(T, Hkv, D, generator=g).bfloat16().float()
    v = torch.randn(T, Hkv, D, generator=g).bfloat16().float()
    sinks = torch.randn(H, generator=g).bfloat16().float()
    scale = 1.0 / math.sqrt(D)
    Q = q.view(T, Hkv, H // Hkv, D)

    with torch.no_grad():
        # Correctness first: gpt-oss's formulation against the SPEC one on the first 64 tokens.
        n = min(T, 64)
        case = {"tokens": n, "kv_tokens": n, "q_offset": 0, "causal": True, "window": a.window, "scale": scale}
        want = torch_candidate.sdpa(q[None, :n], k[None, :n], v[None, :n], sinks, case).reshape(n, H * D)
        got = gpt_oss_sdpa(Q[:n].contiguous(), k[:n], v[:n], sinks, scale, a.window)
        err = (got - want).abs().max().item()
        if not err < 1e-4:
            sys.exit(f"compare_torch: gpt-oss sdpa differs from the SPEC formulation by {err:g}")
        print(f"validated: gpt-oss sdpa matches torch_candidate.sdpa to {err:.2g} on {n} tokens", flush=True)
        torch_t = timed(lambda: gpt_oss_sdpa(Q, k, v, sinks, scale, a.window), a.warmup, a.repeats)
    print(f"torch gpt-oss sdpa: median {torch_t['median']:.4f} s (min {torch_t['min']:.4f}, max {torch_t['max']:.4f}, "
          f"cpu {torch_t['cpu_median']:.4f})", flush=True)

    with tempfile.TemporaryDirectory(prefix="attn-diff-compare-") as tmp:
        bench_json = os.path.join(tmp, "bench.json")
        cmd = [a.attn_diff, "bench", *shape_args(a), "--repeats", str(a.repeats), "--warmup", str(a.warmup),
               "--only", a.stages, "--json", bench_json]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(bench_json) as f:
            bench = json.load(f)
        # The same case as a one-case suite, for the wall time of a whole `attn-diff run`.
        suite = os.path.join(tmp, "case.json")
        with open(suite, "w") as f:
            json.dump({"suite": "compare", "cases": [bench["case"]]}, f)
        run_cmd = [a.attn_diff, "run", "--config", suite, "--threads", str(a.threads), "--quiet"]
        print("running:", " ".join(run_cmd), flush=True)
        run_t = timed(lambda: subprocess.run(run_cmd, check=True, stdout=subprocess.DEVNULL), 0, a.run_repeats)

    stages = {s["name"]: s for s in bench["stages"]}
    label = f"{T} tokens x {H}/{Hkv} heads x D {D}, causal{f' w{a.window}' if a.window else ''}, sinks, {a.threads} threads"
    print(f"\n{label}; cpu: {bench['machine']['cpu']}")
    # `attn-diff run` is a child process: its CPU time is not this process's, so it has none here.
    print(f"{'what':<34} {'median s':>9} {'min s':>9} {'max s':>9} {'cpu s':>9}  torch / this (wall)")
    rows = [("torch gpt-oss sdpa (fp32, eager)", torch_t, torch_t["cpu_median"])]
    rows += [(f"attn-diff {n} ({bench['case']['precision']})", stages[n]["seconds"], stages[n]["cpu_seconds_median"])
             for n in stages]
    rows += [("attn-diff run (whole case, wall)", run_t, None)]
    for name, t, cpu in rows:
        cpu_text = f"{cpu:>9.4f}" if cpu is not None else f"{'-':>9}"
        print(f"{name:<34} {t['median']:>9.4f} {t['min']:>9.4f} {t['max']:>9.4f} {cpu_text}  "
              f"{torch_t['median'] / t['median']:>8.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"shape": label, "torch": torch_t, "bench": bench, "run": run_t}, f, indent=2)


if __name__ == "__main__":
    main()
