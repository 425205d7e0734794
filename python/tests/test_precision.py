"""load_suite(path, precision=...) runs every case in one recipe with its default gates, as the
command line's --precision does."""
import json
import re

import numpy as np
import pytest

from conftest import CONFIGS, run_cli

import attn_diff


@pytest.mark.parametrize("recipe", ["fp32", "fp16-mixed", "int8"])
def test_every_case_in_the_recipe_judged_as_the_cli_does(recipe, tmp_path):
    suite = attn_diff.load_suite(CONFIGS / "phase1.json", precision=recipe)
    report = tmp_path / "r.json"
    assert run_cli("run", "-c", CONFIGS / "phase1.json", "-q", "--precision", recipe, "--json", report).returncode == 0
    cli = {c["name"]: c for c in json.loads(report.read_text())["cases"]}
    assert len(suite.cases) == len(cli) == 8
    for case in suite.cases:
        assert case.precision == recipe
        got = case.judge(case.tiled())
        assert got.verdict == "pass"
        # The same gates with the same bounds as the command line's run; max_abs_vs_expected aside, whose
        # bound is the correct kernel's own error for an output handed in and nothing for the built-in kernel.
        def bounds(gates):
            return [(g["name"], g["bound"]) for g in gates if g["name"] != "max_abs_vs_expected"]
        assert bounds(got.to_json()["gates"]) == bounds(cli[case.name]["gates"])
        assert len(bounds(got.to_json()["gates"])) >= 3


def test_the_suite_gates_are_dropped(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"cases": [{"name": "strict", "tokens": 16, "heads": 2, "head_dim": 16,
                                           "gates": {"max_abs": 0}}]}))
    assert attn_diff.load_suite(path)["strict"].judge(attn_diff.load_suite(path)["strict"].tiled()).verdict == "fail"
    over = attn_diff.load_suite(path, precision="bf16-mixed")["strict"]
    assert over.judge(over.tiled()).verdict == "pass"


def test_an_unknown_recipe_is_a_value_error():
    with pytest.raises(ValueError, match=re.escape("the precision override: 'fp64' is not a recipe: a preset (fp32, "
                                                   "bf16-mixed, fp16-mixed, fp8-e4m3, int8)")):
        attn_diff.load_suite(CONFIGS / "phase1.json", precision="fp64")


@pytest.mark.parametrize("recipe, message", [
    ("fp32+kvv=fp16", "unknown recipe key 'kvv' (did you mean 'kv'?)"),
    ("fp32+k=fp64", "'k' must be one of fp32, bf16, fp16, e4m3, e5m2, int8, got 'fp64'"),
    ("fp32+q=int8", "q and k are int8 together or not at all"),
    ("fp32+kv_scale=per_head", "kv_scale per_head needs K or V in e4m3 or e5m2"),
])
def test_a_bad_recipe_string_is_a_value_error_naming_the_part(recipe, message):
    with pytest.raises(ValueError, match=re.escape("the precision override: " + message)):
        attn_diff.load_suite(CONFIGS / "phase1.json", precision=recipe)


def test_a_recipe_string_override_in_its_canonical_name(tmp_path):
    # Written in any order, with shorthands: the cases carry the canonical name, as --precision's reports do.
    suite = attn_diff.load_suite(CONFIGS / "phase1.json", precision="fp32+acc_pv=f16+kv=fp16")
    report = tmp_path / "r.json"
    assert run_cli("run", "-c", CONFIGS / "phase1.json", "-q", "--precision", "fp32+acc_pv=f16+kv=fp16",
                   "--json", report).returncode == 0
    cli = {c["name"]: c for c in json.loads(report.read_text())["cases"]}
    for case in suite.cases:
        assert case.precision == "fp32+k=fp16+v=fp16+acc_pv=fp16"
        assert case.settings["precision"] == "fp32+k=fp16+v=fp16+acc_pv=fp16"
        got = case.judge(case.tiled())
        assert got.verdict == "pass"
        assert [g["bound"] for g in got.to_json()["gates"] if g["name"] != "max_abs_vs_expected"] == \
            [g["bound"] for g in cli[case.name]["gates"] if g["name"] != "max_abs_vs_expected"]
    # K and V are fp16 values, Q stays fp32.
    case = suite.cases[0]
    k = case.inputs["k"]
    assert np.array_equal(k, k.astype(np.float16).astype(np.float32))
    q = case.inputs["q"]
    assert not np.array_equal(q, q.astype(np.float16).astype(np.float32))


def _per_head_suite(tmp_path, precision):
    path = tmp_path / "ph.json"
    path.write_text(json.dumps({"cases": [{"name": "ph", "batch": 2, "tokens": 5, "kv_tokens": 7, "heads": 6,
                                           "kv_heads": 3, "head_dim": 4, "seed": 3, "precision": precision}]}))
    return path


def test_per_head_input_scales_are_lists_of_max_abs_over_448(tmp_path):
    path = _per_head_suite(tmp_path, "fp32")
    raw = attn_diff.load_suite(path)["ph"].inputs  # the same draws, unquantised
    case = attn_diff.load_suite(path, precision="fp8-e4m3+kv_scale=per_head")["ph"]
    scales = case.input_scales
    for name in ("k", "v"):
        assert isinstance(scales[name], list) and len(scales[name]) == 3
        # max|x| of each KV head over batch, tokens and head_dim, over 448, in float32 as the core computes it.
        want = [float(np.float32(np.abs(raw[name][:, :, g, :]).max()) / np.float32(448)) for g in range(3)]
        assert scales[name] == want
    assert isinstance(scales["q"], float)
    assert case.judge(case.tiled()).verdict == "pass"


def _e5m2_values():
    """The finite non-negative OCP E5M2 values by code, from the format's definition."""
    vals = [m * 2.0 ** -16 for m in range(4)]
    vals += [2.0 ** (e - 15) * (1 + m / 4) for e in range(1, 31) for m in range(4)]
    return np.array(vals)


def _round_e5m2(x):
    """Round to nearest, ties to the even code, saturating at 57344: by search over every code."""
    table = _e5m2_values()
    a = np.abs(x.astype(np.float64))
    d = np.abs(table[None, :] - a[:, None])
    best = d.min(axis=1, keepdims=True)
    ties = d == best
    codes = np.where(ties.sum(axis=1) > 1, np.argmax(ties & (np.arange(len(table)) % 2 == 0)[None, :], axis=1),
                     np.argmax(ties, axis=1))
    return np.copysign(table[codes], x)


def test_e5m2_inputs_are_the_scaled_nearest_codes(tmp_path):
    # PyTorch 1.13 here has no float8_e5m2 to cast with; the rounding is checked against the format's
    # definition instead, from the raw draws: x -> round(x / s) * s with s = max|x| / 57344.
    path = _per_head_suite(tmp_path, "fp32")
    raw = attn_diff.load_suite(path)["ph"].inputs
    case = attn_diff.load_suite(path, precision="fp32+inputs=e5m2")["ph"]
    for name in ("q", "k", "v"):
        x = raw[name].astype(np.float32).ravel()
        s = np.float32(np.abs(x).max()) / np.float32(57344)
        assert case.input_scales[name] == float(s)
        want = (_round_e5m2(x / s).astype(np.float32) * s).astype(np.float32)
        assert np.array_equal(case.inputs[name].ravel(), want)
