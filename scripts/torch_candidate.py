#!/usr/bin/env python3
"""A PyTorch attention as an attn-diff candidate: reads a dump directory, writes {out}.

The attention is gpt-oss's `sdpa` formulation written from attn-diff's SPEC section 2: queries viewed
as (kv head, q_mult), one einsum for the scores, the scale, an additive mask for causal and the
sliding window, the sink logit concatenated as an extra column, softmax, the sink column dropped,
one einsum with V. Batch, decode offsets (q_offset), non-causal windows and rows that see no key
(output exactly 0) are handled as the SPEC says.

    attn-diff run --config configs/phase1.json \\
        --candidate-cmd '/usr/bin/python3 scripts/torch_candidate.py {inputs} {out}'

    attn-diff run --config configs/phase1.json \\
        --candidate-worker 'PYTHONPATH=build/python /usr/bin/python3 scripts/torch_candidate.py --worker'

    attn-diff dump --config configs/phase1.json --case sinks --out /tmp/sinks
    /usr/bin/python3 scripts/torch_candidate.py /tmp/sinks /tmp/sinks_out.npy
    attn-diff compare --inputs /tmp/sinks --candidate /tmp/sinks_out.npy

A backward case (SPEC section 10: "backward": true) runs autograd through the same formulation, in
the same dtype, and writes out, lse, dq, dk, dv and dsinks as one .safetensors file to {out}.

Needs numpy and torch (Debian: apt-get install python3-torch python3-numpy; use /usr/bin/python3
if `python3` on PATH is another interpreter). Reads the .npy dump format (the one --candidate-cmd
writes). --bug injects a known mistake, to see what `attn-diff diagnose` makes of it.

--worker serves every case of a run from one process (attn-diff's worker protocol, SPEC section 13),
through attn_diff.serve: it needs the attn_diff package (PYTHONPATH=build/python), which the one-shot
mode does not. --dtype and --bug apply to every case it serves.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# --dtype eager: the dtype PyTorch eager runs the case's recipe in, as attn-diff's `naive` reference
# does (src/suite/recipe.hpp): bf16 for bf16-mixed and fp8-e4m3 (whose reference is bf16 on the
# dequantised inputs), float32 for fp32 and int8, and float32 for fp16-mixed too, because CPU
# PyTorch has no float16 matmul ("bmm" not implemented for 'Half').
EAGER = {"fp32": "float32", "bf16-mixed": "bfloat16", "fp16-mixed": "float32", "fp8-e4m3": "bfloat16", "int8": "float32"}
BUGS = ["none", "no_sinks", "no_scale", "causal_ignored", "window_off_by_one", "bhsd_reshape"]


def load_case(inputs):
    with open(os.path.join(inputs, "case.json")) as f:
        doc = json.load(f)
    return doc["cases"][0], doc.get("dump", {})


def load(inputs, name):
    path = os.path.join(inputs, name + ".npy")
    return torch.from_numpy(np.load(path)) if os.path.exists(path) else None


def visible_mask(case, bug):
    """[Sq, Sk] boolean: which keys each query row sees (SPEC section 2 'Visibility')."""
    sq, sk, window = case["tokens"], case["kv_tokens"], case["window"]
    pos_q = case["q_offset"] + torch.arange(sq)[:, None]  # absolute position of query row i
    pos_k = torch.arange(sk)[None, :]
    if bug == "window_off_by_one":
        window += 1
    visible = torch.ones(sq, sk, dtype=torch.bool)
    if case["causal"] and bug != "causal_ignored":
        visible &= pos_k <= pos_q
        if window > 0:
            visible &= pos_k > pos_q - window
    elif window > 0:
        visible &= (pos_q - pos_k).abs() < window
    return visible


def sdpa(q, k, v, sinks, case, bug="none", want_lse=False):
    """q: [B, Sq, H, D], k, v: [B, Sk, Hkv, D], sinks: [H] or None -> [B, Sq, H, D] (and with want_lse
    the log-sum-exp [B, H, Sq], SPEC section 10). Differentiable: a backward case runs autograd on it."""
    b, sq, h, d = q.shape
    hkv = k.shape[2]
    q_mult = h // hkv
    q = q.view(b, sq, hkv, q_mult, d)  # query head h reads kv head h // q_mult
    scale = 1.0 if bug == "no_scale" else case["scale"]
    qk = torch.einsum("bqhmd,bkhd->bhmqk", q, k) * scale
    visible = visible_mask(case, bug)
    use_sinks = sinks is not None and bug != "no_sinks"
    # A row with no visible key and no sink would be 0/0 in softmax (NaN, and NaN gradients for every
    # key through autograd); the SPEC says its output is 0: its mask is 0 and its weights zeroed.
    empty = ~visible.any(dim=-1) if not use_sinks else torch.zeros(sq, dtype=torch.bool)
    mask = torch.zeros(visible.shape, dtype=qk.dtype)
    mask.masked_fill_(~visible & ~empty[:, None], -float("inf"))
    qk = qk + mask
    if use_sinks:
        s = sinks.to(qk.dtype).view(1, hkv, q_mult, 1, 1).expand(b, -1, -1, sq, 1)
        qk = torch.cat([qk, s], dim=-1)
    w = torch.softmax(qk, dim=-1)
    if use_sinks:
        w = w[..., :-1]  # the sink's probability is dropped
    if empty.any():
        w = w * (~empty).to(w.dtype)[:, None]
    out = torch.einsum("bhmqk,bkhd->bqhmd", w, v.to(w.dtype)).reshape(b, sq, h, d)
    if not want_lse:
        return out
    lse = torch.logsumexp(qk.detach().float(), dim=-1).reshape(b, h, sq)
    lse[..., empty] = -float("inf")  # SPEC section 10: no key and no sink
    return out, lse


def run(settings, tensors, dtype, bug):
    """The candidate's output for one case: settings as case.json's cases[0], tensors {q, k, v[, sinks]
    [, do]} as torch float32 (bshd), dtype the --dtype choice -> a float32 [B, Sq, H, D] tensor; for a
    backward case (settings["backward"]) a dict of float32 tensors out, lse, dq, dk, dv[, dsinks], the
    gradients by autograd of sum(out * do) (SPEC section 10)."""
    dtype = DTYPES[EAGER.get(settings.get("precision", "fp32"), "float32") if dtype == "eager" else dtype]
    q, k, v = (tensors[n].to(dtype) for n in ("q", "k", "v"))
    sinks = tensors.get("sinks")
    if settings.get("backward"):
        leaves = [q, k, v] + ([sinks] if sinks is not None else [])
        for t in leaves:
            t.requires_grad_(True)
        out, lse = sdpa(q, k, v, sinks, settings, bug, want_lse=True)
        grads = torch.autograd.grad(out, leaves, grad_outputs=tensors["do"].to(out.dtype), allow_unused=True)
        names = ["dq", "dk", "dv", "dsinks"]
        result = {"out": out.detach(), "lse": lse}
        for name, leaf, g in zip(names, leaves, grads):
            result[name] = torch.zeros_like(leaf) if g is None else g  # no_sinks: the sink gets no gradient
        return {n: t.detach().to(torch.float32).contiguous() for n, t in result.items()}
    with torch.no_grad():
        out = sdpa(q, k, v, sinks, settings, bug)
    if bug == "bhsd_reshape":  # a [B, H, Sq, D] result reshaped (not transposed) to bshd
        out = out.permute(0, 2, 1, 3).contiguous().view(out.shape)
    return out.to(torch.float32)


def save_safetensors(path, tensors):
    """{name: float32 tensor} as a .safetensors file (the format's header, then the raw little-endian data),
    so that the script needs no package beyond numpy and torch."""
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def serve(args):
    """--worker: attn_diff.serve (the package's worker loop, SPEC section 13) with run() as the kernel."""
    try:
        import attn_diff.worker
    except ImportError as e:
        sys.exit(f"torch_candidate.py: error: --worker needs the attn_diff package ({e})\n"
                 "note: build it (cmake --build build --target attn_diff_python) and run with PYTHONPATH=build/python")

    def kernel(case):
        return run(case.settings, {n: torch.from_numpy(a) for n, a in case.inputs.items()}, args.dtype, args.bug)

    attn_diff.worker.serve(kernel, name=f"torch_candidate.py (dtype {args.dtype}, bug {args.bug})",
                           supports={"layouts": ["bshd"], "backward": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="?", help="dump directory ({inputs})")
    ap.add_argument("out", nargs="?", help="output .npy file ({out})")
    ap.add_argument("--worker", action="store_true",
                    help="serve every case over attn-diff's worker protocol on stdin/stdout (--candidate-worker); "
                         "needs the attn_diff package on PYTHONPATH")
    ap.add_argument("--dtype", choices=sorted(DTYPES) + ["eager"], default="float32",
                    help="compute dtype (default float32; eager: the case recipe's eager dtype, e.g. bfloat16)")
    ap.add_argument("--bug", choices=BUGS, default="none", help="inject a known mistake (for diagnose demos)")
    args = ap.parse_args()
    if args.worker:
        if args.inputs is not None:
            ap.error("--worker takes no {inputs} {out}: attn-diff sends each case's paths")
        return serve(args)
    if args.out is None:
        ap.error("the following arguments are required: inputs, out (or --worker)")

    case, dump = load_case(args.inputs)
    if dump.get("format", "npy") != "npy":
        sys.exit("torch_candidate.py reads the npy dump format; dump with --format npy")
    tensors = {n: t for n in ("q", "k", "v", "sinks", "do") if (t := load(args.inputs, n)) is not None}
    out = run(case, tensors, args.dtype, args.bug)
    if isinstance(out, dict):  # a backward case: every tensor in one .safetensors file
        return save_safetensors(args.out, out)
    with open(args.out, "wb") as f:  # a file object: np.save would append .npy to other names
        np.save(f, out.numpy())


if __name__ == "__main__":
    main()
