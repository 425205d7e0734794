"""scripts/torch_candidate.py --worker, driven over the protocol (tests/worker_driver.py): it writes
the one-shot mode's bytes, and its usage errors. test_worker_e2e.py runs it, and
examples/pytorch/worker.py, through `attn-diff run --candidate-worker` over phase1-3."""
import os
import subprocess
import sys

from conftest import ROOT
from test_worker import package_env
from worker_driver import Worker

TORCH_CANDIDATE = ROOT / "scripts" / "torch_candidate.py"


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
