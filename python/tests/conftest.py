"""Shared fixtures of the attn_diff module's tests: the attn-diff binary, dumps of the phase suites,
and the eager PyTorch attention of scripts/torch_candidate.py. ctest (python.pytest) sets PYTHONPATH
to build/python and ATTN_DIFF_BINARY to the built binary."""
import importlib.util
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
PHASES = ["phase1", "phase2", "phase3"]
TIMINGS = ("seconds", "peak_memory_bytes")


def binary():
    b = os.environ.get("ATTN_DIFF_BINARY") or str(ROOT / "build" / "attn-diff")
    assert os.path.exists(b), f"no attn-diff binary at {b} (set ATTN_DIFF_BINARY)"
    return b


def run_cli(*args):
    return subprocess.run([binary(), *map(str, args)], capture_output=True, text=True)


def untimed(case_json):
    """A report's case object without its timings (the only fields that may differ)."""
    j = json.loads(json.dumps(case_json))
    for k in TIMINGS:
        j.pop(k, None)
    return j


def compare_json(dump_dir, candidate, tmp_path, *extra):
    """attn-diff compare --json on a candidate file: (exit code, the report's one case, stderr)."""
    report = tmp_path / f"compare-{os.getpid()}-{candidate.stem}.json"
    p = run_cli("compare", "-i", dump_dir, "--candidate", candidate, "--json", report, "-q", "-j", "2", *extra)
    doc = json.loads(report.read_text()) if report.exists() else None
    return p.returncode, (doc["cases"][0] if doc else None), p.stderr


@pytest.fixture(scope="session")
def dumps(tmp_path_factory):
    """{phase: directory}: `attn-diff dump --all` of each phase suite."""
    out = {}
    base = tmp_path_factory.mktemp("dumps")
    for p in PHASES:
        d = base / p
        r = run_cli("dump", "-c", CONFIGS / f"{p}.json", "--all", "-o", d, "-q")
        assert r.returncode == 0, r.stderr
        out[p] = d
    return out


@pytest.fixture(scope="session")
def torch_candidate():
    spec = importlib.util.spec_from_file_location("torch_candidate", ROOT / "scripts" / "torch_candidate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def suites():
    import attn_diff
    return {p: attn_diff.load_suite(CONFIGS / f"{p}.json", threads=2) for p in PHASES}
