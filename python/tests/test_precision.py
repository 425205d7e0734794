"""load_suite(path, precision=...) runs every case in one recipe with its default gates, as the
command line's --precision does."""
import json

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
    with pytest.raises(ValueError, match=r"the precision override: 'fp64' is not a recipe: a preset \(fp32, bf16-mixed"):
        attn_diff.load_suite(CONFIGS / "phase1.json", precision="fp64")
