"""The backward pass from Python (SPEC section 10): a backward case's inputs carry `do`, its golden
tensors are there to read, and Case.judge takes lse, dq, dk, dv and dsinks beside the output. The
gradients come from PyTorch autograd through scripts/torch_candidate.py's formulation, the
legitimate implementation users compare against: in float32 and in the recipe's eager dtype it must
pass; a gradient off by a little must fail, on that tensor only."""
import json

import math

import numpy as np
import pytest

from conftest import CONFIGS, run_cli

torch = pytest.importorskip("torch")  # scripts/test.sh installs python3-torch: never skipped in CI


@pytest.fixture(scope="module")
def backward_suite():
    import attn_diff
    return attn_diff.load_suite(CONFIGS / "backward.json", threads=2)


def autograd(torch_candidate, case, dtype="float32"):
    tensors = {n: torch.from_numpy(np.array(a)) for n, a in case.inputs.items()}
    return {n: t.numpy() for n, t in torch_candidate.run(case.settings, tensors, dtype, "none").items()}


def judge(case, t, **override):
    grads = {n: t[n] for n in ("lse", "dq", "dk", "dv", "dsinks") if n in t}
    grads.update(override)
    return case.judge(t["out"], **grads)


def test_a_backward_case_has_do_and_golden_tensors(backward_suite):
    case = backward_suite["decode_chunk_window_128"]
    s = case.shape
    assert case.settings["backward"] is True
    assert case.inputs["do"].shape == (s["batch"], s["tokens"], s["heads"], s["head_dim"])
    g = case.golden_tensors()
    assert set(g) == {"lse", "dq", "dk", "dv", "dsinks"}
    assert g["lse"].shape == (s["batch"], s["heads"], s["tokens"])
    assert g["dk"].shape == (s["batch"], s["kv_tokens"], s["kv_heads"], s["head_dim"])
    assert g["dsinks"].shape == (s["heads"],) and g["dq"].dtype == np.float64
    # dsinks = -sum_i p_sink,i * D_i with D_i = rowsum(dO * O): recomputed here from golden's own
    # output and LSE (an independent path to the same number).
    out, do, lse, sinks = case.golden, case.inputs["do"].astype(np.float64), g["lse"], case.inputs["sinks"]
    d = (do * out).sum(axis=-1)                                   # [B, Sq, H]
    p_sink = np.exp(sinks[None, :, None].astype(np.float64) - lse)  # [B, H, Sq]
    np.testing.assert_allclose(g["dsinks"], -(p_sink * d.transpose(0, 2, 1)).sum(axis=(0, 2)), rtol=1e-9, atol=1e-12)
    assert backward_suite["prefill_no_sinks"].golden_tensors().keys() == {"lse", "dq", "dk", "dv"}


@pytest.mark.parametrize("dtype", ["float32", "eager"])
def test_torch_autograd_passes_every_tensor(backward_suite, torch_candidate, dtype):
    for name in ("decode_chunk_window_128", "empty_rows", "prefill_no_sinks"):
        case = backward_suite[name]
        r = judge(case, autograd(torch_candidate, case, dtype))
        assert r.verdict == "pass", (name, r)
        tensors = r.to_json()["tensors"]
        assert set(tensors) == ({"lse", "dq", "dk", "dv", "dsinks"} if case.has_sinks else {"lse", "dq", "dk", "dv"})
        for t in tensors.values():
            assert all(g["pass"] for g in t["gates"])


def test_a_gradient_off_by_a_little_fails_on_that_tensor_only(backward_suite, torch_candidate):
    case = backward_suite["decode_chunk_full"]
    t = autograd(torch_candidate, case)
    r = judge(case, t, dk=t["dk"] * 1.05)  # a 5 % scale error in dK alone
    assert r.verdict == "fail"
    failures = r.to_json()["failures"]
    assert failures and all(f.startswith("dk: ") for f in failures), failures
    # Diagnosed on the tensors: no mutant scales dK by 1.05, and a failure is never "precision".
    assert r.diagnosis and r.to_json()["diagnosis"]["verdict"] == "unexplained"
    # The LSE is optional: judged without it; an LSE off by 0.1 fails on its own gate (bf16-mixed:
    # 3 x the bf16 eager LSE's error allows a few hundredths).
    assert "lse" not in judge(case, {k: v for k, v in t.items() if k != "lse"}).to_json()["tensors"]
    r = judge(case, t, lse=t["lse"] + 0.1)
    assert r.verdict == "fail" and r.to_json()["failures"][0].startswith("lse: ")


def test_missing_and_misplaced_tensors_are_value_errors(backward_suite, torch_candidate):
    case = backward_suite["decode_chunk_full"]
    t = autograd(torch_candidate, case)
    with pytest.raises(ValueError, match="'dv' was not handed back"):
        case.judge(t["out"], dq=t["dq"], dk=t["dk"], dsinks=t["dsinks"])
    with pytest.raises(ValueError, match=r"lse: error: shape \(1, 4, 64\), expected \(1, 64, 4\)"):
        judge(case, t, lse=t["lse"].transpose(0, 2, 1).copy())
    with pytest.raises(ValueError, match="dk"):
        judge(case, t, dk=t["dk"][:, :-1].copy())
    # A forward case takes an lse (judged) and refuses gradients.
    import attn_diff
    fwd = attn_diff.load_suite(CONFIGS / "phase1.json")["sinks"]
    tensors = {n: torch.from_numpy(np.array(a)) for n, a in fwd.inputs.items()}
    out, lse = torch_candidate.sdpa(*(tensors[n] for n in ("q", "k", "v")), tensors["sinks"], fwd.settings, want_lse=True)
    r = fwd.judge(out, lse=lse)
    assert r.verdict == "pass" and list(r.to_json()["tensors"]) == ["lse"]
    with pytest.raises(ValueError, match="forward only"):
        fwd.judge(out, dq=torch.zeros_like(out))
    # Diagnosis uses the lse: torch's output with its lse in base 2, then with the sink left out.
    assert fwd.judge(out, lse=lse * math.log2(math.e)).cause == "lse:log2"
    no_sink = lse + torch.log1p(-torch.exp(tensors["sinks"].double()[None, :, None] - lse))
    assert fwd.judge(out, lse=no_sink).cause == "lse:no_sink"


def test_seed_overrides_every_case(backward_suite):
    import attn_diff
    other = attn_diff.load_suite(CONFIGS / "backward.json", seed=7)
    assert all(c.settings["seed"] == 7 for c in other.cases)
    a, b = backward_suite["decode_chunk_full"], other["decode_chunk_full"]
    assert not np.array_equal(a.inputs["do"], b.inputs["do"])
    with pytest.raises(ValueError, match="seed"):
        attn_diff.load_suite(CONFIGS / "backward.json", seed=-1)


def test_worker_returns_a_dict_as_one_safetensors_file(tmp_path):
    """attn_diff.serve writes a kernel's dict of tensors as .safetensors; attn-diff reads it back."""
    worker = tmp_path / "w.py"
    worker.write_text(
        "import attn_diff\n"
        "def kernel(case):\n"
        "    return {'out': case.tiled(), 'bogus_extra': case.tiled()[:1]}\n"
        "attn_diff.serve(kernel, name='tiled-forward', supports={'backward': True})\n")
    import sys
    cmd = f"'{sys.executable}' '{worker}'"
    # A forward case: 'out' read from the dict (extra names ignored, as for any .safetensors file).
    r = run_cli("run", "-c", CONFIGS / "phase1.json", "--case", "sinks", "-q", "--candidate-worker", cmd)
    assert r.returncode == 0, r.stdout + r.stderr
    # A backward case without gradients in the dict: an error that names the missing tensor.
    r = run_cli("run", "-c", CONFIGS / "backward.json", "--case", "decode_chunk_full", "--candidate-worker", cmd)
    assert r.returncode == 3 and "no tensor 'dq'" in r.stdout, r.stdout
