"""attn_diff.serve, driven as attn-diff drives a worker (tests/worker_driver.py, written from SPEC
section 13): the handshake, ok / error / unsupported replies, a kernel's prints kept off the
protocol channel, a garbled line, shutdown and EOF; and the case object a kernel gets."""
import json
import os
import sys
import textwrap

import numpy as np
import pytest

from conftest import CONFIGS, run_cli
from worker_driver import PROTOCOL, Worker

import attn_diff

# A worker whose kernel's behaviour is chosen by the request's case name, and which writes to its
# stdout every way a kernel can: Python print, os.write on fd 1 and C stdio (printf through ctypes),
# before serve() is called as well as inside the kernel.
PROBE = textwrap.dedent('''
    import ctypes, os, sys
    import attn_diff
    print("printed before serve")
    libc = ctypes.CDLL(None)

    def kernel(case):
        print("print from the kernel of", case.name)
        os.write(1, b"os.write(1) from the kernel\\n")
        libc.printf(b"C printf from the kernel\\n")
        if case.name == "throws":
            raise ValueError("the kernel exploded on purpose")
        if case.name == "unsupported":
            raise attn_diff.Unsupported("this kernel has no sliding window")
        if case.name == "returns_none":
            return None
        if case.name == "reads_stdin":
            return sys.stdin.readline() or "stdin is /dev/null"
        if case.name == "bf16":
            import torch
            return torch.from_numpy(case.tiled()).to(torch.bfloat16)
        if case.name == "exits":
            sys.exit(7)
        return case.tiled()

    n = attn_diff.serve(kernel, name="probe", supports={"backward": False})
    sys.stderr.write(f"served {n}\\n")
''')


def package_env():
    """The environment with the attn_diff this test imported first on PYTHONPATH (absolute)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(attn_diff.__file__)))
    path = os.pathsep.join([package_dir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
    # Python's default: stdout to a pipe is block-buffered, so what the probe prints before serve()
    # is still buffered when serve() points fd 1 at stderr (with PYTHONUNBUFFERED it is already out).
    env.pop("PYTHONUNBUFFERED", None)
    return env


@pytest.fixture
def probe(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    w = Worker(f"'{sys.executable}' '{script}'", tmp_path / "probe.log", env=package_env())
    yield w
    w.kill()


@pytest.fixture(scope="module")
def sinks_dump(tmp_path_factory):
    d = tmp_path_factory.mktemp("worker") / "sinks"
    r = run_cli("dump", "-c", CONFIGS / "phase1.json", "--case", "sinks", "-o", d, "-q")
    assert r.returncode == 0, r.stderr
    return d


def test_handshake_names_the_protocol_the_worker_and_what_it_supports(probe):
    assert probe.handshake() == {"protocol": PROTOCOL, "name": "probe", "supports": {"backward": False}}
    probe.close_stdin()
    assert probe.wait() == 0


def test_the_default_handshake_names_the_kernel_function_and_declares_nothing(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("import attn_diff\ndef my_kernel(case):\n    return case.tiled()\nattn_diff.serve(my_kernel)\n")
    w = Worker(f"'{sys.executable}' '{script}'", tmp_path / "plain.log", env=package_env())
    try:
        assert w.handshake() == {"protocol": PROTOCOL, "name": "my_kernel", "supports": {}}
        w.send({"protocol": "attn-diff.worker.v9"})  # answered with what it speaks, and logged
        assert w.recv() == {"protocol": PROTOCOL, "name": "my_kernel", "supports": {}}
        w.close_stdin()
        assert w.wait() == 0
        assert "attn-diff speaks 'attn-diff.worker.v9'; this worker speaks 'attn-diff.worker.v1'" in w.log()
    finally:
        w.kill()


def test_ok_writes_the_kernels_output_and_an_exception_is_that_cases_error_only(probe, sinks_dump, tmp_path):
    probe.handshake()
    out1, out2, out3 = (tmp_path / f"o{i}.npy" for i in (1, 2, 3))
    assert probe.request(1, sinks_dump, out1) == {"id": 1, "ok": True}
    tiled = np.load(sinks_dump / "tiled.npy")
    assert np.array_equal(np.load(out1), tiled) and np.load(out1).dtype == np.float32

    r = probe.request(2, sinks_dump, out2, case="throws")
    assert r["id"] == 2 and r["ok"] is False and set(r) == {"id", "ok", "error"}
    # the exception's type and message, and its innermost frame: file, line, function, source
    assert r["error"].startswith("case 'throws': ValueError: the kernel exploded on purpose (at probe.py:")
    assert r["error"].endswith(' in kernel: raise ValueError("the kernel exploded on purpose"))')
    assert not out2.exists()
    assert "Traceback (most recent call last)" in probe.log()  # the whole traceback is in the log

    assert probe.request(3, sinks_dump, out3) == {"id": 3, "ok": True}  # the worker serves on
    probe.send({"op": "shutdown"})
    assert probe.wait() == 0
    assert "served 3" in probe.log()


def test_unsupported_is_its_own_reply(probe, sinks_dump, tmp_path):
    probe.handshake()
    assert probe.request(5, sinks_dump, tmp_path / "o.npy", case="unsupported") == \
        {"id": 5, "ok": False, "unsupported": "this kernel has no sliding window"}
    assert not (tmp_path / "o.npy").exists()
    probe.close_stdin()
    assert probe.wait() == 0


def test_prints_of_every_kind_reach_stderr_and_never_the_protocol_channel(probe, sinks_dump, tmp_path):
    probe.handshake()
    for i in range(3):
        assert probe.request(i, sinks_dump, tmp_path / f"o{i}.npy") == {"id": i, "ok": True}
    probe.close_stdin()
    assert probe.wait() == 0
    # every stdout line is a reply (JSON object), and only the replies are there
    assert [json.loads(x) for x in probe.lines] == [
        {"protocol": PROTOCOL, "name": "probe", "supports": {"backward": False}},
        {"id": 0, "ok": True}, {"id": 1, "ok": True}, {"id": 2, "ok": True}]
    log = probe.log()
    assert log.count("print from the kernel of sinks") == 3
    assert log.count("os.write(1) from the kernel") == 3
    assert log.count("C printf from the kernel") == 3
    assert "printed before serve" in log


def test_a_kernel_reading_stdin_gets_dev_null_not_the_next_request(probe, sinks_dump, tmp_path):
    probe.handshake()
    probe.send({"id": 1, "case": "reads_stdin", "inputs": str(sinks_dump), "out": str(tmp_path / "a.npy")})
    probe.send({"id": 2, "case": "sinks", "inputs": str(sinks_dump), "out": str(tmp_path / "b.npy")})
    r1, r2 = probe.recv(), probe.recv()
    # the kernel read "" (EOF) and returned a string: that case's error, and request 2 is still answered
    assert r1["id"] == 1 and r1["ok"] is False and "expected a NumPy array or a torch.Tensor, got str" in r1["error"]
    assert r2 == {"id": 2, "ok": True}
    probe.close_stdin()
    assert probe.wait() == 0


def test_output_conversion_bf16_is_written_exactly_as_float32_and_none_is_an_error(probe, sinks_dump, tmp_path):
    import torch  # python3-torch is a test dependency (scripts/test.sh): missing, this fails rather than skips
    probe.handshake()
    assert probe.request(1, sinks_dump, tmp_path / "b.npy", case="bf16") == {"id": 1, "ok": True}
    want = torch.from_numpy(np.load(sinks_dump / "tiled.npy")).to(torch.bfloat16).to(torch.float32).numpy()
    got = np.load(tmp_path / "b.npy")
    assert got.dtype == np.float32 and np.array_equal(got, want)
    r = probe.request(2, sinks_dump, tmp_path / "n.npy", case="returns_none")
    assert r == {"id": 2, "ok": False, "error": "case 'returns_none': the kernel returned None, not its output"}
    probe.close_stdin()
    assert probe.wait() == 0


def test_garbled_lines_get_an_error_reply_when_they_have_an_id_and_are_logged_otherwise(probe, sinks_dump, tmp_path):
    probe.handshake()
    probe.send_line(b"this is not json\n")
    probe.send_line(b'{"id": 4, "case": "sinks", "inputs": \n')  # cut short
    probe.send_line(b"[1, 2, 3]\n")
    probe.send_line(b"\n")
    probe.send({"id": 6, "case": "sinks"})  # no inputs, no out
    r = probe.recv()  # the first reply: the three lines before it had no id, and the empty one is skipped
    assert set(r) == {"id", "ok", "error"} and r["id"] == 4 and r["ok"] is False
    assert r["error"].startswith("request 4: error: not a JSON line (Expecting value: line 1 column 38 (char 37))")
    assert probe.recv() == {"id": 6, "ok": False, "error": "request 6: error: no 'inputs' path in the request"}
    assert probe.request(7, sinks_dump, tmp_path / "o.npy") == {"id": 7, "ok": True}
    probe.close_stdin()
    assert probe.wait() == 0
    log = probe.log()
    assert "attn_diff.serve: ignored a request line: not a JSON line" in log and "this is not json" in log
    assert "ignored a request line: not a JSON object (list)" in log


def test_a_missing_dump_is_an_error_naming_the_file(probe, tmp_path):
    probe.handshake()
    r = probe.request(1, tmp_path / "nosuch", tmp_path / "o.npy")
    assert r["ok"] is False and r["error"].startswith(f"{tmp_path / 'nosuch' / 'case.json'}: error: cannot read the dump's case")
    probe.close_stdin()
    assert probe.wait() == 0


def test_shutdown_ends_the_worker_and_nothing_after_it_is_answered(probe, sinks_dump, tmp_path):
    probe.handshake()
    probe.send({"op": "shutdown"})
    probe.send({"id": 1, "case": "sinks", "inputs": str(sinks_dump), "out": str(tmp_path / "o.npy")})
    assert probe.wait() == 0
    assert not (tmp_path / "o.npy").exists()
    assert "served 0" in probe.log()


def test_eof_before_the_handshake_ends_the_worker(probe):
    probe.close_stdin()
    assert probe.wait() == 0
    assert probe.lines == []


def test_a_kernel_that_exits_ends_the_worker_with_its_code(probe, sinks_dump, tmp_path):
    probe.handshake()
    probe.send({"id": 1, "case": "exits", "inputs": str(sinks_dump), "out": str(tmp_path / "o.npy")})
    assert probe.wait() == 7  # SystemExit is not a case's error: attn-diff sees the worker exit


def test_the_case_a_kernel_gets_has_attn_diff_case_settings_and_inputs(sinks_dump, tmp_path):
    wc = attn_diff.WorkerCase({"id": 3, "inputs": str(sinks_dump), "out": str(tmp_path / "o.npy")})
    case = attn_diff.load_suite(CONFIGS / "phase1.json")["sinks"]
    assert (wc.name, wc.id, wc.dir, wc.out, wc.layout) == ("sinks", 3, str(sinks_dump), str(tmp_path / "o.npy"), "bshd")
    assert wc.settings == case.settings
    assert sorted(wc.inputs) == sorted(case.inputs) == ["k", "q", "sinks", "v"]
    for n, a in case.inputs.items():
        assert wc.inputs[n].dtype == np.float32 and np.array_equal(wc.inputs[n], a)
    for attr in ("shape", "causal", "window", "q_offset", "scale", "tiles", "precision", "has_sinks", "input_scales"):
        assert getattr(wc, attr) == getattr(case, attr), attr
    assert np.array_equal(wc.golden, case.golden) and np.array_equal(wc.naive, case.naive)
    assert np.array_equal(wc.tiled(), case.tiled())


def test_serve_rejects_what_is_not_a_kernel_or_not_json_before_touching_stdio():
    with pytest.raises(TypeError, match="serve takes the kernel function"):
        attn_diff.serve("run_case")
    with pytest.raises(TypeError):
        attn_diff.serve(lambda c: None, supports={"layouts": {1, 2}})


def test_a_closed_reply_channel_stops_the_worker_quietly(probe, sinks_dump, tmp_path):
    probe.handshake()
    probe.proc.stdout.close()  # attn-diff is gone: the next reply meets a closed pipe
    probe.send({"id": 1, "case": "sinks", "inputs": str(sinks_dump), "out": str(tmp_path / "o.npy")})
    assert probe.proc.wait(60) == 0
    assert "attn_diff.serve: attn-diff closed the channel; stopping" in probe.log()
    assert "Traceback" not in probe.log()
