"""kernel.py's attention as an attn-diff candidate worker: one process serves every case of a run.

    attn-diff run --config configs/phase1.json \\
        --candidate-worker 'PYTHONPATH=build/python /usr/bin/python3 examples/pytorch/worker.py'

--kernel-bug window_off_by_one serves the kernel with its sliding window one key too wide.
"""
import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # kernel.py, wherever attn-diff starts us

import attn_diff  # noqa: E402
from kernel import BUGS, run_case  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernel-bug", choices=BUGS, default="none", help="serve the kernel with this bug injected")
    args = ap.parse_args()
    name = "examples/pytorch" + ("" if args.kernel_bug == "none" else f" (bug: {args.kernel_bug})")
    # run_case returns bshd: declaring it makes a run with another --layout `unsupported`, not `fail`.
    attn_diff.serve(functools.partial(run_case, bug=args.kernel_bug), name=name, supports={"layouts": ["bshd"]})
