"""attn_diff.pytest_plugin and examples/pytorch, driven as a user runs them: `python -m pytest` in a
subprocess, asserting its exit code, its output and the report files it writes."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import attn_diff
from attn_diff.pytest_plugin import cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHASE1 = os.path.join(ROOT, "configs", "phase1.json")
EXAMPLE = os.path.join(ROOT, "examples", "pytorch")
# The cases of phase1-3 with a sliding window narrower than the sequence: the ones a window one key
# too wide changes (window_ge_tokens has W >= Sk, so W + 1 admits no extra key).
WINDOW_CASES = {"phase1/sliding_window", "phase1/sliding_window_small_tiles", "phase2/combo_bf16-mixed",
                "phase2/combo_exp2_bf16", "phase2/combo_finite_mask_bf16", "phase2/combo_fp16-mixed",
                "phase2/combo_fp32", "phase2/combo_fp8-e4m3", "phase2/combo_int8",
                "phase2/combo_noncausal_window_bf16", "phase3/decode_1_token_long_kv_window", "phase3/window_1"}


def run_pytest(*args, cwd=ROOT):
    """`python -m pytest ARGS` in a fresh interpreter; returns (exit code, stdout + stderr)."""
    # The same attn_diff this test imported, by absolute path (ctest's PYTHONPATH may be relative).
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(attn_diff.__file__)))
    path = os.pathsep.join([package_dir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def failed_ids(output):
    return {line.split("[", 1)[1].rsplit("]", 1)[0] for line in output.splitlines()
            if line.startswith("FAILED ") and "[" in line}


def test_cases_gives_one_param_per_case_with_suite_slash_case_ids():
    suite = attn_diff.load_suite(PHASE1)
    params = cases(PHASE1)
    assert [p.id for p in params] == [f"phase1/{c.name}" for c in suite.cases]
    assert [p.values[0].name for p in params] == [c.name for c in suite.cases]
    assert len(params) == 8


def test_cases_select_keeps_matching_names_and_rejects_a_glob_matching_nothing():
    assert [p.id for p in cases(PHASE1, select="sinks*")] == ["phase1/sinks", "phase1/sinks_small_tiles"]
    assert [p.id for p in cases(PHASE1, select=["basic", "phase1/causal"])] == ["phase1/basic", "phase1/causal"]
    with pytest.raises(ValueError, match="no case of .*phase1.json matches nosuch"):
        cases(PHASE1, select="nosuch")
    with pytest.raises(TypeError):
        cases()


def test_a_failing_judgement_fails_the_test_with_the_assert_close_account(tmp_path):
    write_test(tmp_path, "def test_it(attn_judge):\n"
                         "    case = CASES['sinks']\n"
                         "    attn_judge(case, case.mutant('no_sinks'))\n")
    code, out = run_pytest(str(tmp_path), cwd=tmp_path)
    assert code == 1, out
    case = attn_diff.load_suite(PHASE1)["sinks"]
    message = case.judge(case.mutant("no_sinks")).message()
    assert "Diagnosis: no_sinks" in message
    assert message in out  # the whole account, verbatim, and no Python traceback
    assert "Traceback" not in out and "pytest_plugin.py" not in out


def test_example_correct_kernel_passes_every_case_and_writes_one_report(tmp_path):
    code, out = run_pytest(EXAMPLE, "--attn-diff-report", str(tmp_path / "rep"))
    assert code == 0, out
    assert "39 passed" in out, out  # 35 cases of phase1-3 and 4 mutants caught
    assert "attn-diff: 35 judged cases, 35 passed, 0 not; report: " in out
    doc = json.loads((tmp_path / "rep" / "attn-diff.json").read_text())
    assert len(doc["cases"]) == 35  # the 4 mutants' results (catches) are not in the kernel's report
    assert {c["verdict"] for c in doc["cases"]} == {"pass"}
    suites = ET.parse(tmp_path / "rep" / "junit.xml").getroot()
    assert len(suites.findall(".//testcase")) == 35
    assert (tmp_path / "rep" / "attn-diff.html").stat().st_size > 0
    assert (tmp_path / "rep" / "attn-diff.md").stat().st_size > 0


def test_example_buggy_kernel_fails_the_window_cases_diagnosed_as_window_off_by_one(tmp_path):
    code, out = run_pytest(EXAMPLE, "--kernel-bug", "window_off_by_one", "--attn-diff-json", str(tmp_path / "r.json"))
    assert code == 1, out
    assert "12 failed, 27 passed" in out, out
    assert failed_ids(out) == WINDOW_CASES
    # Every failure but window_1 is diagnosed as the bug that was injected. On window_1, W = 1 -> 2
    # doubles the window and no hypothesis explains it fully; window_off_by_one is ranked first.
    assert out.count("Diagnosis: window_off_by_one") == 11, out
    assert out.count("Diagnosis: unexplained") == 1, out
    doc = json.loads((tmp_path / "r.json").read_text())
    causes = {c["name"]: c["diagnosis"]["verdict"] for c in doc["cases"] if c["verdict"] == "fail"}
    assert set(causes) == {i.split("/", 1)[1] for i in WINDOW_CASES}
    assert causes["window_1"] == "unexplained"
    assert doc["cases"][[c["name"] for c in doc["cases"]].index("window_1")]["diagnosis"]["hypotheses"][0]["name"] \
        == "window_off_by_one"
    assert {v for k, v in causes.items() if k != "window_1"} == {"window_off_by_one"}


def write_test(tmp_path, body):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["attn_diff.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(
        "import attn_diff\n"
        f"CASES = {{c.name: c for c in attn_diff.load_suite({PHASE1!r}).cases}}\n" + body)


def test_catches_fails_a_test_whose_judgement_lets_the_output_through(tmp_path):
    write_test(tmp_path, "def test_it(attn_judge):\n"
                         "    case = CASES['sinks']\n"
                         "    attn_judge.catches(case, case.tiled())\n")
    code, out = run_pytest(str(tmp_path), cwd=tmp_path)
    assert code == 1, out
    assert "attn-diff: sinks: the output passed (verdict pass); a test judging it this way would not catch this bug" in out


def test_catches_fails_when_the_diagnosis_names_another_cause(tmp_path):
    write_test(tmp_path, "def test_it(attn_judge):\n"
                         "    case = CASES['sinks']\n"
                         "    attn_judge.catches(case, case.mutant('no_sinks'), cause='causal_ignored')\n")
    code, out = run_pytest(str(tmp_path), cwd=tmp_path)
    assert code == 1, out
    assert "attn-diff: sinks: failed as expected, but the diagnosis says no_sinks, not causal_ignored" in out


def test_no_report_option_writes_no_file(tmp_path):
    write_test(tmp_path, "def test_it(attn_judge):\n"
                         "    case = CASES['basic']\n"
                         "    assert attn_judge(case, case.tiled()).passed\n")
    code, out = run_pytest(str(tmp_path), cwd=tmp_path)
    assert code == 0, out
    assert "judged cases" not in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["conftest.py", "test_user.py"]


def test_a_report_that_cannot_be_written_fails_the_run(tmp_path):
    write_test(tmp_path, "def test_it(attn_judge):\n"
                         "    case = CASES['basic']\n"
                         "    attn_judge(case, case.tiled())\n")
    (tmp_path / "afile").write_text("")
    code, out = run_pytest(str(tmp_path), "--attn-diff-json", str(tmp_path / "afile" / "r.json"), cwd=tmp_path)
    assert code == 3, out  # pytest's INTERNAL_ERROR, like the CLI's exit 3 for an unwritable report
    assert "attn-diff: error: cannot write the report: " in out
    assert "afile" in out
