"""Mutants from Python, check() and assert_close() on a caller's own tensors, and write_reports."""
import json

import numpy as np
import pytest
import torch

from conftest import CONFIGS, untimed

import attn_diff


@pytest.fixture(scope="module")
def phase1():
    return attn_diff.load_suite(CONFIGS / "phase1.json", threads=2)


def adhoc_args(case):
    inp = case.inputs
    return dict(q=inp["q"], k=inp["k"], v=inp["v"], sinks=inp.get("sinks"), causal=case.causal, window=case.window,
                q_offset=case.q_offset, scale=case.scale, precision=case.precision)


def test_no_sinks_mutant_fails_a_sinks_case_and_is_named(phase1):
    c = phase1["sinks"]
    r = c.judge(c.mutant("no_sinks"))
    assert r.verdict == "fail"
    assert r.diagnosis and r.diagnosis[0]["name"] == "no_sinks" and r.cause == "no_sinks"
    assert set(r.diagnosis[0]) == {"name", "score", "evidence"}
    assert r.localisation is not None and r.where
    assert "no_sinks" in repr(r) and "fail" in repr(r)
    # diagnose=False: the same verdict, no diagnosis
    assert c.judge(c.mutant("no_sinks"), diagnose=False).diagnosis == []
    # every mutant name is reachable
    assert "no_sinks" in attn_diff.mutant_names()


def test_tiled_passes(phase1):
    for c in phase1:
        r = c.judge(c.tiled())
        assert r.passed and r.verdict == "pass" and r.diagnosis == [] and bool(r)


def test_check_agrees_with_the_suite_case(phase1):
    for name in ("sinks", "sliding_window", "causal"):
        c = phase1[name]
        for out in (c.tiled(), c.mutant("no_sinks" if c.has_sinks else "window_off_by_one")):
            a = c.judge(out)
            b = attn_diff.check(out, **adhoc_args(c))
            assert a.verdict == b.verdict
            assert a.metrics == b.metrics
            assert a.gates == b.gates
            assert a.diagnosis == b.diagnosis
            ja, jb = untimed(a.to_json()), untimed(b.to_json())
            for k in ("name", "suite", "seed", "tags"):
                ja.pop(k), jb.pop(k)
            assert ja == jb


def test_check_rounds_inputs_to_the_recipe(phase1):
    c = phase1["sinks"]
    args = adhoc_args(c)
    # float64 torch tensors and inputs off the bf16 grid: rounded to bf16 first, as a case's inputs are
    noisy = {n: torch.from_numpy(np.array(args[n], np.float64)) * (1 + 1e-5) for n in ("q", "k", "v")}
    r = attn_diff.check(c.tiled(), **{**args, **noisy})
    assert r.metrics == c.judge(c.tiled()).metrics


def test_check_defaults_q_offset_and_scale(phase1):
    c = phase1["causal"]  # Sq == Sk and scale 1/sqrt(64): the SPEC's defaults
    args = adhoc_args(c)
    del args["q_offset"], args["scale"]
    assert attn_diff.check(c.tiled(), **args).metrics == c.judge(c.tiled()).metrics


def test_check_bad_settings_raise_value_error(phase1):
    c = phase1["sinks"]
    args = adhoc_args(c)
    with pytest.raises(ValueError, match="precision"):
        attn_diff.check(c.tiled(), **{**args, "precision": "bf17"})
    with pytest.raises(ValueError, match="sinks"):
        attn_diff.check(c.tiled(), **{**args, "sinks": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="q_offset"):
        attn_diff.check(c.tiled(), **{**args, "q_offset": 5})


def test_assert_close(phase1):
    c = phase1["sinks"]
    args = adhoc_args(c)
    assert attn_diff.assert_close(c.tiled(), **args).passed
    with pytest.raises(AssertionError) as e:
        attn_diff.assert_close(c.mutant("no_sinks"), **args)
    msg = str(e.value)
    r = c.judge(c.mutant("no_sinks"))
    g = r.metrics["vs_golden"]
    assert "Mismatched elements:" in msg and " / 1024 " in msg
    assert f"Greatest absolute difference: {g['max_abs']:.6g} at index {tuple(g['max_abs_index'])}" in msg
    assert "Precision yardstick: the eager reference (naive) is off by" in msg
    assert "Failing gate" in msg
    assert any(f"where: {w}" in msg for w in r.where)
    assert "Diagnosis: no_sinks" in msg


def test_write_reports(phase1, tmp_path):
    results = [c.judge(c.tiled()) for c in phase1] + [phase1["sinks"].judge(phase1["sinks"].mutant("no_sinks"))]
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "html", "junit", "md")}
    attn_diff.write_reports(results, **paths)
    doc = json.loads(paths["json"].read_text())
    assert doc["suite"] == "phase1" and len(doc["cases"]) == len(phase1) + 1
    assert [untimed(x) for x in doc["cases"]] == [untimed(r.to_json()) for r in results]
    assert "<testsuites" in paths["junit"].read_text() and "no_sinks" in paths["md"].read_text()
    assert paths["html"].read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(RuntimeError):
        attn_diff.write_reports(results, json=tmp_path / "missing-dir" / "r.json")


def test_threads_judge_at_once_with_the_same_numbers():
    # The GIL is released while the core computes: cases judged from several threads at once (their
    # lazy preparation included) give what they give one at a time.
    from concurrent.futures import ThreadPoolExecutor
    suite = attn_diff.load_suite(CONFIGS / "phase2.json", threads=1)
    cases = suite.cases[:6]
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda c: c.judge(c.mutant("no_sinks")), cases + cases))
    ser = [c.judge(c.mutant("no_sinks")) for c in cases]
    assert [untimed(r.to_json()) for r in par] == [untimed(r.to_json()) for r in ser + ser]
