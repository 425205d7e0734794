"""attn_diff.serve: a Python kernel as an attn-diff candidate worker (SPEC section 13).

    import attn_diff

    def run_case(case):                      # case.inputs, case.settings, as attn_diff.Case has them
        return my_kernel(case.inputs["q"], case.inputs["k"], case.inputs["v"], case.inputs.get("sinks"),
                         causal=case.settings["causal"], window=case.settings["window"])

    if __name__ == "__main__":
        attn_diff.serve(run_case, name="my-kernel")

    attn-diff run --config configs/phase1.json --candidate-worker 'python3 my_worker.py'

serve() speaks `attn-diff.worker.v1` on the process's stdin and stdout: it answers the handshake,
then for each request reads the case's dump directory, calls kernel_fn(case) and writes what it
returns to the request's out file as .npy. The kernel's own output never reaches the protocol
channel: fd 1 is pointed at stderr (Python prints and native extensions' writes alike) and fd 0 at
/dev/null, the protocol keeping private copies of both. docs/python.md has the reference.
"""
import ctypes
import io
import json
import os
import re
import sys
import traceback

PROTOCOL = "attn-diff.worker.v1"
_INPUTS = ("q", "k", "v", "sinks", "do")


class Unsupported(Exception):
    """Raised by a kernel for a case it does not implement: the case is `unsupported`, not `error`.

    raise attn_diff.Unsupported("head_dim 256 needs the large-tile variant")"""


class WorkerCase:
    """One requested case, read from its dump directory: what attn_diff.Case offers a kernel.

    `.name`, `.settings` (case.json's cases[0], as attn_diff.Case.settings), `.inputs` ({q, k, v[, sinks]}
    float32 NumPy arrays, bshd; sinks [H]), `.shape`, `.causal`, `.window`, `.q_offset`, `.scale`,
    `.tiles`, `.precision`, `.has_sinks`, `.input_scales`, `.golden`, `.naive` and `.tiled()` as on a
    Case; plus the request's `.dir` (the dump directory), `.out` (the file serve() writes), `.layout`
    and `.id`."""

    def __init__(self, request):
        self.id = request["id"]
        self.dir = request["inputs"]
        self.out = request["out"]
        self.layout = request.get("layout", "bshd")
        path = os.path.join(self.dir, "case.json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            self._settings = doc["cases"][0]
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{path}: error: cannot read the dump's case ({type(e).__name__}: {e})") from None
        self._dump = doc.get("dump", {}) if isinstance(doc.get("dump"), dict) else {}
        if self._dump.get("format", "npy") != "npy":
            raise ValueError(f"{self.dir}: error: the dump is in '{self._dump.get('format')}' format; "
                             f"attn_diff.serve reads npy dumps")
        self.name = request.get("case") or self._settings.get("name", "")
        self.suite = doc.get("suite", "")
        self._inputs = None

    def _load(self, name, required=True):
        import numpy as np
        path = os.path.join(self.dir, name + ".npy")
        if not required and not os.path.exists(path):
            return None
        return np.load(path, allow_pickle=False)

    @property
    def settings(self):
        """The resolved case as a dict, exactly as case.json's cases[0] (a copy)."""
        return json.loads(json.dumps(self._settings))

    @property
    def inputs(self):
        """{q, k, v[, sinks][, do]}: float32 NumPy arrays read from the dump (bshd; sinks [H]; a backward
        case's upstream gradient do [B, Sq, H, D])."""
        if self._inputs is None:
            import numpy as np
            arrays = {n: self._load(n, required=n in ("q", "k", "v")) for n in _INPUTS}
            self._inputs = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in arrays.items() if a is not None}
        return dict(self._inputs)

    shape = property(lambda self: {k: self._settings[k] for k in
                                   ("batch", "tokens", "kv_tokens", "q_offset", "heads", "kv_heads", "head_dim")},
                     doc="{batch, tokens, kv_tokens, q_offset, heads, kv_heads, head_dim}")
    causal = property(lambda self: self._settings["causal"])
    window = property(lambda self: self._settings["window"])
    q_offset = property(lambda self: self._settings["q_offset"])
    scale = property(lambda self: self._settings["scale"])
    tiles = property(lambda self: (self._settings["tiles"]["q"], self._settings["tiles"]["kv"]),
                     doc="(q, kv): queries and keys per tile of the tiled kernel")
    precision = property(lambda self: self._settings["precision"])
    has_sinks = property(lambda self: os.path.exists(os.path.join(self.dir, "sinks.npy")))

    @property
    def input_scales(self):
        """Per-tensor scales of the fp8 and int8 recipes (each input value is code x scale), else 1."""
        return dict(self._dump.get("input_scales", {}))

    @property
    def golden(self):
        """The float64 reference output (bshd)."""
        return self._load("golden")

    @property
    def naive(self):
        """The eager reference's output, as float64."""
        import numpy as np
        return self._load("naive").astype(np.float64)

    def tiled(self):
        """The correct tiled kernel's output (float32, bshd): a candidate that passes."""
        return self._load("tiled")

    def __repr__(self):
        return f"<WorkerCase {self.name!r} id={self.id!r} dir={self.dir!r}>"


def _as_npy_array(out):
    """What the kernel returned, as a NumPy array for the .npy file: float16/32/64 kept, bfloat16
    widened to float32 (exactly: every bf16 value is a float32), through the package's conversion."""
    import numpy as np
    from . import _as_array
    arr, bf16 = _as_array(out, "the kernel's output")
    if bf16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr


def save_safetensors(path, arrays):
    """{name: NumPy float16/float32/float64 array} as a .safetensors file: an 8-byte little-endian header
    length, the JSON header (padded to 8 bytes), the raw little-endian data in the given order."""
    import numpy as np
    kinds = {2: "F16", 4: "F32", 8: "F64"}
    header, blobs, at = {}, [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        if a.dtype.kind != "f" or a.dtype.itemsize not in kinds:
            raise ValueError(f"tensor '{name}': error: unsupported dtype '{a.dtype}'")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": kinds[a.dtype.itemsize], "shape": list(a.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def _error_text(e):
    """`Type: message (at FILE:LINE in FUNC: SOURCE)`: the exception and the innermost frame."""
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    frames = traceback.extract_tb(e.__traceback__)
    if frames:
        f = frames[-1]
        where = f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
        text += f" (at {where}: {f.line})" if f.line else f" (at {where})"
    return text


class _Channel:
    """The protocol's private stdin and stdout: fd 0 and fd 1 as they were, the process's own fd 0
    then reading /dev/null and fd 1 writing to stderr."""

    def __init__(self):
        self.out_fd = os.dup(1)
        self.in_fd = os.dup(0)
        os.dup2(2, 1)  # from here on, everything written to fd 1 goes to stderr,
        _flush_output()  # even what the program printed before serve() and Python or C still buffer
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        self.reader = io.open(self.in_fd, "rb", buffering=65536, closefd=False)

    def readline(self):
        return self.reader.readline()

    def send(self, obj):
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
        while data:
            n = os.write(self.out_fd, data)
            data = data[n:]

    def close(self):
        # Back as they were, for a caller that goes on after serve() returns.
        self.reader.close()
        os.dup2(self.out_fd, 1)
        os.dup2(self.in_fd, 0)
        os.close(self.out_fd)
        os.close(self.in_fd)


def _log(msg):
    sys.stderr.write(f"attn_diff.serve: {msg}\n")
    sys.stderr.flush()


_libc = None


def _flush_output():
    """Flushes the kernel's buffered prints (Python's and C stdio's) into the worker's log."""
    global _libc
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None)
        _libc.fflush(None)
    except (OSError, AttributeError):
        pass


def _default_name(kernel_fn):
    fn = getattr(kernel_fn, "func", kernel_fn)  # functools.partial
    return getattr(fn, "__name__", None) or type(fn).__name__


def _answer(kernel_fn, request):
    """The reply to one request: run the kernel, write its output, report ok, error or unsupported."""
    rid = request["id"]
    missing = [k for k in ("inputs", "out") if not isinstance(request.get(k), str) or not request.get(k)]
    if missing:
        return {"id": rid, "ok": False, "error": f"request {rid}: error: no '{missing[0]}' path in the request"}
    try:
        case = WorkerCase(request)
    except ValueError as e:
        return {"id": rid, "ok": False, "error": str(e)}
    try:
        out = kernel_fn(case)
    except Unsupported as e:
        return {"id": rid, "ok": False, "unsupported": str(e) or "the kernel does not support this case"}
    except Exception as e:  # noqa: BLE001: any failure of the kernel is this case's error, not the worker's
        # The traceback from the kernel's frame on: serve's own frame is noise in the log.
        tb = e.__traceback__.tb_next or e.__traceback__
        traceback.print_exception(type(e), e, tb, file=sys.stderr)
        return {"id": rid, "ok": False, "error": f"case '{case.name}': {_error_text(e)}"}
    if out is None:
        return {"id": rid, "ok": False, "error": f"case '{case.name}': the kernel returned None, not its output"}
    try:
        import numpy as np
        if isinstance(out, dict):  # several tensors (SPEC section 10): one .safetensors file
            save_safetensors(request["out"], {str(n): _as_npy_array(t) for n, t in out.items()})
        else:
            arr = _as_npy_array(out)
            with open(request["out"], "wb") as f:  # a file object: np.save would append .npy to other names
                np.save(f, arr, allow_pickle=False)
    except (ValueError, OSError) as e:
        return {"id": rid, "ok": False, "error": f"case '{case.name}': {e}"}
    return {"id": rid, "ok": True}


def _request_id(line):
    """The id of a line that is not a JSON object, when one can be read from it."""
    m = re.search(rb'"id"\s*:\s*(-?\d+)', line)
    return int(m.group(1)) if m else None


def serve(kernel_fn, name=None, supports=None):
    """Serves kernel_fn as an attn-diff candidate worker on stdin/stdout until shutdown or EOF.

    kernel_fn(case) gets a WorkerCase (`.name`, `.inputs`, `.settings`, `.dir`, ... as attn_diff.Case)
    and returns the output, [B, Sq, H, D] unless attn-diff runs with another `--layout`: a NumPy array
    (float16, float32, float64) or a CPU torch.Tensor (float32, float16, bfloat16, written as float32);
    or a dict of such tensors, written as one .safetensors file: for a backward case (SPEC section 10,
    declare supports={"backward": True}) "out", "dq", "dk", "dv", "dsinks" and optionally "lse", and
    for any case "out" with an "lse".
    An exception is that case's `error` (its type, message and innermost frame; the traceback goes to
    stderr) and the worker serves the next case; `attn_diff.Unsupported(reason)` makes the case
    `unsupported`. `name` is the worker's name in the handshake (default: kernel_fn's name);
    `supports` the features it declares (SPEC section 13: "backward", "paged", "ragged", "layouts"; by
    default none, and no "layouts" list, so any --layout is sent and the kernel reads `case.layout`).
    Returns the number of requests answered."""
    if not callable(kernel_fn):
        raise TypeError(f"serve takes the kernel function, got {type(kernel_fn).__name__}")
    hello = {"protocol": PROTOCOL, "name": str(name) if name is not None else _default_name(kernel_fn),
             "supports": dict(supports or {})}
    json.dumps(hello)  # a supports value that is not JSON fails here, before any request
    channel = _Channel()
    answered = 0
    try:
        while True:
            line = channel.readline()
            if not line:
                break  # EOF: attn-diff closed our stdin
            if not line.strip():
                continue
            try:
                msg = json.loads(line.rstrip(b"\r\n").decode("utf-8"))
            except ValueError as e:
                msg, bad = None, f"not a JSON line ({e})"
            else:
                bad = None if isinstance(msg, dict) else f"not a JSON object ({type(msg).__name__})"
            if bad:
                rid = _request_id(line)
                if rid is None:
                    _log(f"ignored a request line: {bad}: {line[:200]!r}")
                else:
                    channel.send({"id": rid, "ok": False, "error": f"request {rid}: error: {bad}"})
                    answered += 1
                continue
            if msg.get("op") == "shutdown":
                break
            if "protocol" in msg and "id" not in msg:
                if msg["protocol"] != PROTOCOL:
                    _log(f"attn-diff speaks {msg['protocol']!r}; this worker speaks {PROTOCOL!r}")
                channel.send(hello)
                continue
            if "id" not in msg:
                _log(f"ignored a message with no id and no known op: {line[:200]!r}")
                continue
            reply = _answer(kernel_fn, msg)
            _flush_output()
            channel.send(reply)
            answered += 1
    except BrokenPipeError:
        _log("attn-diff closed the channel; stopping")
    finally:
        _flush_output()
        channel.close()
    return answered
