"""What an output may be, and what a bad one gives (issue 16, SPEC section 12): bf16 tensors,
non-contiguous arrays, a wrong shape, a wrong dtype, a NaN, a tensor not on the CPU, a bad layout."""
import numpy as np
import pytest
import torch

from conftest import CONFIGS, compare_json, run_cli, untimed

import attn_diff


@pytest.fixture(scope="module")
def sinks_case():
    return attn_diff.load_suite(CONFIGS / "phase1.json", threads=2)["sinks"]


def test_inputs_are_zero_copy_read_only_views(sinks_case):
    inp = sinks_case.inputs
    assert set(inp) == {"q", "k", "v", "sinks"}
    assert all(a.dtype == np.float32 for a in inp.values())
    assert inp["q"].shape == (1, 8, 2, 64) and inp["sinks"].shape == (2,)
    assert not inp["q"].flags.owndata and not inp["q"].flags.writeable
    # the same buffer each time: views of the core's inputs, not copies
    assert sinks_case.inputs["q"].__array_interface__["data"][0] == inp["q"].__array_interface__["data"][0]
    assert sinks_case.golden.dtype == np.float64 and sinks_case.naive.dtype == np.float64
    with pytest.raises(ValueError):
        inp["q"][0, 0, 0, 0] = 1.0


def test_views_keep_the_case_alive():
    q = attn_diff.load_suite(CONFIGS / "phase1.json")["basic"].inputs["q"]
    import gc
    gc.collect()
    assert q.shape == (1, 4, 2, 4) and np.isfinite(q).all()


def test_attributes(sinks_case):
    c = sinks_case
    assert (c.name, c.causal, c.window, c.q_offset, c.scale, c.precision) == ("sinks", True, 0, 0, 0.125, "bf16-mixed")
    assert c.tiles == (128, 2048) and c.shape["heads"] == 2 and c.has_sinks
    assert c.settings["name"] == "sinks" and c.settings["tiles"] == {"kv": 2048, "q": 128}


def test_bf16_tensor_equals_its_float32_values(sinks_case):
    t = torch.from_numpy(sinks_case.tiled()).to(torch.bfloat16)
    a = sinks_case.judge(t)
    b = sinks_case.judge(t.to(torch.float32).numpy())
    assert untimed(a.to_json()) == untimed(b.to_json())
    # and float16 / float64 numpy arrays, float32 / float16 tensors are read as their values
    for x in (t.to(torch.float16), t.to(torch.float32), t.to(torch.float16).numpy(), t.to(torch.float64).numpy()):
        r = sinks_case.judge(x)
        assert r.verdict in ("pass", "fail")


def test_non_contiguous_output(sinks_case):
    out = sinks_case.tiled()
    # bhsd storage, handed as a transposed (non-contiguous) bshd view
    bhsd = np.ascontiguousarray(out.transpose(0, 2, 1, 3))
    view = bhsd.transpose(0, 2, 1, 3)
    assert not view.flags.c_contiguous
    assert untimed(sinks_case.judge(view).to_json()) == untimed(sinks_case.judge(out).to_json())
    tview = torch.from_numpy(bhsd).to(torch.bfloat16).permute(0, 2, 1, 3)
    assert not tview.is_contiguous()
    assert sinks_case.judge(tview).metrics == sinks_case.judge(torch.from_numpy(out).to(torch.bfloat16)).metrics
    # the same values in layout bhsd
    assert sinks_case.judge(bhsd, layout="bhsd").metrics == sinks_case.judge(out).metrics


def test_wrong_shape_has_the_cli_message(sinks_case, tmp_path):
    bad = np.zeros((1, 8, 2, 32), np.float32)
    with pytest.raises(ValueError) as e:
        sinks_case.judge(bad)
    f = tmp_path / "bad_shape.npy"
    np.save(f, bad)
    d = tmp_path / "dump"
    assert run_cli("dump", "-c", CONFIGS / "phase1.json", "--case", "sinks", "-o", d, "-q").returncode == 0
    p = run_cli("compare", "-i", d, "--candidate", f)
    assert p.returncode == 2
    assert str(e.value) == p.stderr.strip().replace(str(f), "out")
    assert "out: error:" in str(e.value) and "but layout bshd expects [1, 8, 2, 64]" in str(e.value)


def test_wrong_dtype(sinks_case):
    for bad in (np.zeros((1, 8, 2, 64), np.int32), torch.zeros((1, 8, 2, 64), dtype=torch.int32),
                np.zeros((1, 8, 2, 64), np.complex64)):
        with pytest.raises(ValueError, match=r"out: error: unsupported dtype .*float32"):
            sinks_case.judge(bad)
    with pytest.raises(ValueError, match="expected a NumPy array or a torch.Tensor, got list"):
        sinks_case.judge([0.0] * 1024)


def test_tensor_not_on_the_cpu(sinks_case):
    t = torch.empty((1, 8, 2, 64), device="meta")
    with pytest.raises(ValueError, match=r"out: error: the tensor is on device 'meta'; attn_diff judges CPU tensors"):
        sinks_case.judge(t)


def test_unknown_layout(sinks_case):
    with pytest.raises(ValueError, match=r"unknown layout 'bsdh'\nnote: layouts: bshd, bhsd"):
        sinks_case.judge(sinks_case.tiled(), layout="bsdh")


def test_nan_output_fails_as_in_compare(sinks_case, tmp_path):
    out = sinks_case.tiled().copy()
    out[0, 3, 1, 5] = np.nan
    r = sinks_case.judge(out)
    assert r.verdict == "fail" and not r.passed
    assert r.metrics["vs_golden"]["unexpected_nonfinite"] == 1
    assert r.failures == ["1 non-finite candidate values where golden is finite; the first is nan at [0,3,1,5]"]
    d = tmp_path / "dump"
    assert run_cli("dump", "-c", CONFIGS / "phase1.json", "--case", "sinks", "-o", d, "-q").returncode == 0
    f = tmp_path / "nan.npy"
    np.save(f, out)
    rc, cli, err = compare_json(d, f, tmp_path)
    assert rc == 1 and untimed(cli) == untimed(r.to_json())


def test_missing_and_bad_suite_files_have_the_cli_message(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ValueError) as e:
        attn_diff.load_suite(missing)
    p = run_cli("validate", "-c", missing)
    assert p.returncode == 2 and str(e.value) == p.stderr.strip()
    bad = tmp_path / "bad.json"
    bad.write_text('{"suite": "s", "cases": [{"name": "x", "heads": 3, "kv_heads": 2, "head_dim": 8, "tokens": 4}]}')
    with pytest.raises(ValueError) as e:
        attn_diff.load_suite(bad)
    p = run_cli("validate", "-c", bad)
    assert p.returncode == 2 and str(e.value) == p.stderr.strip()
    assert "case 'x'" in str(e.value) and "kv_heads" in str(e.value)


def test_unknown_mutant(sinks_case):
    with pytest.raises(ValueError, match=r"unknown mutant 'no_sink' \(did you mean 'no_sinks'\?\)"):
        sinks_case.mutant("no_sink")


def test_numpy_users_do_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, attn_diff; c = attn_diff.load_suite(sys.argv[1])['sinks']; r = c.judge(c.tiled()); "
            "assert r.passed; attn_diff.check(c.tiled(), **{n: c.inputs[n] for n in 'qkv'}, sinks=c.inputs['sinks']); "
            "print('torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, str(CONFIGS / "phase1.json")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_mutant_of_another_recipe(sinks_case):
    with pytest.raises(ValueError, match=r"case 'sinks': error: mutant 'int8_saturation' cannot run this case: "
                                         r"int8_saturation models a bug of the int8 recipe; this case runs bf16-mixed"):
        sinks_case.mutant("int8_saturation")
    int8 = attn_diff.load_suite(CONFIGS / "phase2.json")["combo_int8"]
    assert int8.judge(int8.mutant("int8_saturation")).verdict == "fail"
