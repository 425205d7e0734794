"""Judges kernel.py's attention over attn-diff's phase1-3 suites (35 cases) with pytest.

    PYTHONPATH=build/python /usr/bin/python3 -m pytest -q examples/pytorch
    PYTHONPATH=build/python /usr/bin/python3 -m pytest -q examples/pytorch --kernel-bug window_off_by_one
"""
import os

import pytest
import attn_diff
from attn_diff.pytest_plugin import cases

from kernel import run_case

# The suites ship with attn-diff (configs/); a copy of this file points at its own suite files.
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs")
SUITES = [os.path.join(CONFIGS, f"phase{n}.json") for n in (1, 2, 3)]


@pytest.fixture
def bug(request):
    return request.config.getoption("--kernel-bug")


@pytest.mark.parametrize("case", cases(*SUITES))
def test_attention(case, bug, attn_judge):
    """The kernel's output for every case passes the case's gates (fails with a diagnosis otherwise)."""
    attn_judge(case, run_case(case, bug=bug))


# Does the test above catch bugs? attn-diff's built-in mutants are kernels with one known mistake:
# judged the same way, each must fail, and the diagnosis must name it.
PHASE1 = attn_diff.load_suite(SUITES[0])


@pytest.mark.parametrize("case_name,mutant", [("sinks", "no_sinks"), ("sliding_window", "window_off_by_one"),
                                              ("causal", "causal_ignored"), ("basic", "no_scale")])
def test_catches_mutant(case_name, mutant, attn_judge):
    attn_judge.catches(PHASE1[case_name], PHASE1[case_name].mutant(mutant), cause=mutant)
