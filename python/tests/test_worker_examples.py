"""The shipped workers, driven over the protocol (tests/worker_driver.py) across phase1-3 and their
outputs judged in-process by the same core attn-diff runs: examples/pytorch/worker.py (kernel.py's
run_case served as is) and scripts/torch_candidate.py --worker."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PHASES, ROOT
from test_plugin import WINDOW_CASES
from test_worker import package_env
from worker_driver import PROTOCOL, Worker

pytest.importorskip("torch")

EXAMPLE_WORKER = ROOT / "examples" / "pytorch" / "worker.py"
TORCH_CANDIDATE = ROOT / "scripts" / "torch_candidate.py"


def serve_all(cmd, dumps, suites, tmp_path):
    """Runs every case of phase1-3 through one worker process; returns (handshake, {SUITE/CASE: verdict})."""
    w = Worker(cmd, tmp_path / "worker.log", env=package_env(), cwd=tmp_path)
    try:
        hello = w.handshake()
        verdicts = {}
        rid = 0
        for p in PHASES:
            for case in suites[p]:
                rid += 1
                out = tmp_path / f"{rid}.npy"
                assert w.request(rid, dumps[p] / case.name, out) == {"id": rid, "ok": True}, w.log()
                verdicts[f"{p}/{case.name}"] = case.judge(np.load(out), diagnose=False).verdict
        w.send({"op": "shutdown"})
        assert w.wait() == 0
    finally:
        w.kill()
    return hello, verdicts


def test_the_pytorch_example_served_as_a_worker_passes_all_35_cases(dumps, suites, tmp_path):
    hello, verdicts = serve_all(f"'{sys.executable}' '{EXAMPLE_WORKER}'", dumps, suites, tmp_path)
    assert hello == {"protocol": PROTOCOL, "name": "examples/pytorch", "supports": {"layouts": ["bshd"]}}
    assert len(verdicts) == 35
    assert {k for k, v in verdicts.items() if v != "pass"} == set()


def test_the_pytorch_example_with_its_window_bug_fails_exactly_the_window_cases(dumps, suites, tmp_path):
    hello, verdicts = serve_all(f"'{sys.executable}' '{EXAMPLE_WORKER}' --kernel-bug window_off_by_one", dumps, suites,
                                tmp_path)
    assert hello["name"] == "examples/pytorch (bug: window_off_by_one)"
    assert {k for k, v in verdicts.items() if v != "pass"} == WINDOW_CASES
    assert {v for k, v in verdicts.items() if k in WINDOW_CASES} == {"fail"}


def test_torch_candidate_worker_passes_all_35_cases_in_the_eager_dtype(dumps, suites, tmp_path):
    hello, verdicts = serve_all(f"'{sys.executable}' '{TORCH_CANDIDATE}' --worker --dtype eager", dumps, suites, tmp_path)
    assert hello == {"protocol": PROTOCOL, "name": "torch_candidate.py (dtype eager, bug none)",
                     "supports": {"layouts": ["bshd"]}}
    assert len(verdicts) == 35 and {k for k, v in verdicts.items() if v != "pass"} == set()


def test_torch_candidate_worker_writes_the_one_shot_modes_bytes(dumps, torch_candidate, monkeypatch, tmp_path):
    """The same --dtype and --bug in both modes give the same file, byte for byte (the one-shot mode
    run in this process: its main() with its command line)."""
    picks = [("phase1", "sinks"), ("phase2", "combo_bf16-mixed"), ("phase3", "decode_1_token_long_kv_window")]
    for opts in (["--dtype", "eager"], ["--bug", "window_off_by_one"], ["--bug", "bhsd_reshape", "--dtype", "bfloat16"]):
        w = Worker(f"'{sys.executable}' '{TORCH_CANDIDATE}' --worker " + " ".join(opts), tmp_path / "w.log",
                   env=package_env())
        try:
            w.handshake()
            for i, (p, name) in enumerate(picks):
                assert w.request(i, dumps[p] / name, tmp_path / f"w{i}.npy") == {"id": i, "ok": True}
            w.close_stdin()
            assert w.wait() == 0
        finally:
            w.kill()
        for i, (p, name) in enumerate(picks):
            one = tmp_path / f"one{i}.npy"
            monkeypatch.setattr(sys, "argv", ["torch_candidate.py", str(dumps[p] / name), str(one), *opts])
            torch_candidate.main()
            assert (tmp_path / f"w{i}.npy").read_bytes() == one.read_bytes(), (opts, name)


def test_torch_candidate_worker_usage_errors(tmp_path):
    r = subprocess.run([sys.executable, str(TORCH_CANDIDATE), "--worker", "a", "b"], capture_output=True, text=True)
    assert r.returncode == 2 and "--worker takes no {inputs} {out}" in r.stderr
    # without the attn_diff package on the path (the one-shot mode needs only numpy and torch)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, str(TORCH_CANDIDATE), "--worker"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "torch_candidate.py: error: --worker needs the attn_diff package (No module named 'attn_diff')" in r.stderr
    assert "note: build it (cmake --build build --target attn_diff_python) and run with PYTHONPATH=build/python" in r.stderr
