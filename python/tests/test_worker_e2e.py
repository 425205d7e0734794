"""The Python helpers through attn-diff itself: `attn-diff run --candidate-worker` with a worker built
on attn_diff.serve (examples/pytorch/worker.py, scripts/torch_candidate.py --worker, and a worker
whose kernel raises), asserting exit codes, verdicts and the report."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import CONFIGS, PHASES, ROOT, binary
from test_plugin import WINDOW_CASES
from test_worker import package_env



def run_worker(cmd, config, tmp_path, *extra):
    """`attn-diff run -q --config CONFIG --candidate-worker CMD --json FILE`: (exit code, {case: verdict}, report, output)."""
    report = tmp_path / f"{config}.json"
    p = subprocess.run([binary(), "run", "-q", "--config", str(CONFIGS / f"{config}.json"), "--candidate-worker", cmd,
                        "--json", str(report), *extra], capture_output=True, text=True, env=package_env(), cwd=ROOT)
    doc = json.loads(report.read_text()) if report.exists() else {"cases": []}
    return p.returncode, {c["name"]: c["verdict"] for c in doc["cases"]}, doc, p.stdout + p.stderr


@pytest.mark.parametrize("worker,name", [("examples/pytorch/worker.py", "examples/pytorch"),
                                         ("scripts/torch_candidate.py --worker --dtype eager",
                                          "torch_candidate.py (dtype eager, bug none)")])
def test_a_serve_worker_passes_every_case_of_phase1_3(worker, name, tmp_path):
    total = 0
    for phase in PHASES:
        code, verdicts, doc, out = run_worker(f"'{sys.executable}' {worker}", phase, tmp_path)
        assert code == 0, out
        assert set(verdicts.values()) == {"pass"} and len(verdicts) == doc["summary"]["cases"], out
        assert {c["candidate"].get("worker") for c in doc["cases"]} == {name}, doc["cases"][0]["candidate"]
        total += len(verdicts)
    assert total == 35


def test_the_example_worker_with_its_window_bug_fails_exactly_the_window_cases(tmp_path):
    failed = set()
    for phase in PHASES:
        code, verdicts, _, out = run_worker(f"'{sys.executable}' examples/pytorch/worker.py --kernel-bug window_off_by_one",
                                            phase, tmp_path, "--no-diagnose")  # the verdicts are the point here
        assert code == (1 if any(k.startswith(phase + "/") for k in WINDOW_CASES) else 0), out
        assert set(verdicts.values()) <= {"pass", "fail"}
        failed |= {f"{phase}/{n}" for n, v in verdicts.items() if v == "fail"}
    assert failed == WINDOW_CASES


def test_unsupported_and_a_kernel_exception_through_attn_diff(tmp_path):
    """Unsupported is `unsupported`, an exception that case's `error` with the message serve sent,
    a print in the kernel harms nothing, and every other case is judged: exit 3 (an error)."""
    script = tmp_path / "mixed.py"
    script.write_text(textwrap.dedent('''
        import attn_diff
        def kernel(case):
            print("noise on stdout from", case.name)
            if case.window:
                raise attn_diff.Unsupported("no sliding window in this kernel")
            if case.name == "causal":
                raise ValueError("causal is broken")
            return case.tiled()
        attn_diff.serve(kernel, name="mixed")
    '''))
    code, verdicts, doc, out = run_worker(f"'{sys.executable}' '{script}'", "phase1", tmp_path)
    assert code == 3, out
    assert verdicts == {"basic": "pass", "causal": "error", "sliding_window": "unsupported", "sinks": "pass",
                        "basic_small_tiles": "pass", "causal_small_tiles": "pass",
                        "sliding_window_small_tiles": "unsupported", "sinks_small_tiles": "pass"}
    causal = next(c for c in doc["cases"] if c["name"] == "causal")
    assert "case 'causal': ValueError: causal is broken (at mixed.py:8 in kernel: raise ValueError(\"causal is broken\"))" \
        in causal["error"]
    window = next(c for c in doc["cases"] if c["name"] == "sliding_window")
    assert window["error"] == "no sliding window in this kernel"
