"""attn_diff: attn-diff's judge of attention kernels, in-process from Python (SPEC section 12).

    import attn_diff
    suite = attn_diff.load_suite("configs/phase1.json")
    for case in suite:
        q, k, v = (torch.from_numpy(case.inputs[n]) for n in "qkv")
        result = case.judge(my_kernel(q, k, v, case.inputs.get("sinks")))
        assert result.passed, result

    attn_diff.assert_close(out, q, k, v, sinks, causal=True, window=128)

    attn_diff.serve(my_kernel_fn)   # a candidate worker for `attn-diff run --candidate-worker CMD`

The judging is attn-diff's C++ core (the module _core), the same code `attn-diff compare` runs, so the
metrics, gates, verdicts and diagnoses are the command line's bit for bit. docs/python.md is the
reference.
"""
import json as _json

from . import _core

__all__ = ["load_suite", "Suite", "Case", "JudgeResult", "check", "assert_close", "write_reports",
           "mutant_names", "layout_names", "serve", "Unsupported", "WorkerCase", "__version__"]
__version__ = _core.version

_OUT_DTYPES = "numpy float16, float32, float64 or a CPU torch.Tensor of float32, float16, bfloat16"


def _is_tensor(x):
    # torch is never imported here: a tensor is recognised by its class's module.
    return type(x).__module__.startswith("torch") and hasattr(x, "device") and hasattr(x, "dtype")


def _as_array(out, what="out"):
    """An output as a C-contiguous NumPy array the core reads, and whether it holds bf16 bits.

    NumPy float16/float32/float64 of any strides (copied only when not C-contiguous) or a CPU
    torch.Tensor of float32/float16/bfloat16 (bfloat16 as its bit pattern, viewed as int16)."""
    import numpy as np
    if _is_tensor(out):
        if out.device.type != "cpu":
            raise ValueError(f"{what}: error: the tensor is on device '{out.device}'; attn_diff judges CPU tensors\n"
                             f"note: pass out.cpu() (or out.detach().cpu())")
        import torch
        t = out.detach()
        if t.dtype == torch.bfloat16:
            return np.ascontiguousarray(t.contiguous().view(torch.int16).numpy()).view(np.uint16), True
        if t.dtype not in (torch.float32, torch.float16, torch.float64):
            raise ValueError(f"{what}: error: unsupported dtype '{t.dtype}'; supported: {_OUT_DTYPES}")
        return np.ascontiguousarray(t.numpy()), False
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{what}: error: expected a NumPy array or a torch.Tensor, got {type(out).__name__}\n"
                         f"note: supported: {_OUT_DTYPES}")
    if out.dtype.kind != "f" or out.dtype.itemsize not in (2, 4, 8):
        raise ValueError(f"{what}: error: unsupported dtype '{out.dtype.str}' ({out.dtype.name}); supported: {_OUT_DTYPES}")
    return np.ascontiguousarray(out.astype(out.dtype.newbyteorder("="), copy=False)), False


def _as_input(x, name):
    """An input tensor (NumPy or CPU torch, any float dtype) as float32 NumPy."""
    import numpy as np
    if x is None:
        return None
    if _is_tensor(x):
        if x.device.type != "cpu":
            raise ValueError(f"{name}: error: the tensor is on device '{x.device}'; attn_diff judges CPU tensors")
        import torch
        x = x.detach().to(torch.float32).numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name}: error: unsupported dtype '{a.dtype.str}'; pass a floating-point tensor")
    return np.ascontiguousarray(a, dtype=np.float32)


class JudgeResult:
    """The judgement of one output: the report's case object (SPEC section 8) and views of it."""

    def __init__(self, core_result):
        self._core = core_result
        self._json_cache = None

    @property
    def _json(self):
        # Built on first use: on a large case the report's case object (its breakdown maps) costs
        # more to serialise and parse than a caller who only reads the verdict should pay.
        if self._json_cache is None:
            self._json_cache = _json.loads(self._core.json())
        return self._json_cache

    @property
    def verdict(self):
        """'pass', 'fail', 'error' or 'unsupported'."""
        return self._core.verdict

    @property
    def passed(self):
        return self.verdict == "pass"

    @property
    def name(self):
        return self._core.case

    @property
    def metrics(self):
        """The report's metrics: vs_golden, vs_naive, naive_vs_golden, expected_vs_golden."""
        return self._json.get("metrics", {})

    @property
    def gates(self):
        """[{name, bound, value, pass, note?}] as in the report."""
        return self._json.get("gates", [])

    @property
    def failures(self):
        """One line per reason the case failed."""
        return self._json.get("failures", [])

    @property
    def diagnosis(self):
        """[{name, score, evidence}], best first; empty unless a failure was diagnosed."""
        d = self._json.get("diagnosis")
        return [{"name": h["name"], "score": h["score"], "evidence": h["evidence"]} for h in d["hypotheses"]] if d else []

    @property
    def cause(self):
        """The hypothesis that explains the failure, 'unexplained', or None when none was diagnosed."""
        d = self._json.get("diagnosis")
        return d["verdict"] if d else None

    @property
    def localisation(self):
        """Where the error is, in words (a failed case): the report's localisation object, or None."""
        return self._json.get("localisation")

    @property
    def worst(self):
        return self._json.get("worst", [])

    def to_json(self):
        """The report's case object as a dict: what `attn-diff compare --json` writes, timings aside."""
        return _json.loads(_json.dumps(self._json))

    def message(self):
        """A torch.testing-like account of the judgement (what assert_close raises)."""
        return _message(self._json, self.where)

    @property
    def where(self):
        """The `where:` lines every report prints for a failed case (the localisation in words)."""
        return list(self._core.where_lines())

    def __bool__(self):
        return self.passed

    def __repr__(self):
        j = self._json
        g = j.get("metrics", {}).get("vs_golden", {})
        bits = [f"verdict={self.verdict!r}"]
        if g:
            bits.append(f"max_abs={g.get('max_abs')}")
        if self.cause:
            bits.append(f"cause={self.cause!r}")
        if j.get("error"):
            bits.append(f"error={j['error']!r}")
        return f"<JudgeResult case={j['name']!r} " + " ".join(bits) + ">"


def _fmt(x):
    return "n/a" if x is None else f"{x:.6g}"


def _message(j, where=()):
    lines = []
    if j["verdict"] in ("error", "unsupported"):
        return f"case '{j['name']}': {j['verdict']}: {j.get('error', '')}"
    m = j["metrics"]
    g = m["vs_golden"]
    total = 1
    for k in ("batch", "tokens", "heads", "head_dim"):
        total *= j["shape"][k]
    rate = g.get("pass_rate")
    mismatched = None if rate is None else total - round(rate * total)
    head = f"Attention outputs are not close (case '{j['name']}', {j['precision']}): verdict {j['verdict']}"
    lines.append(head)
    if mismatched is not None:
        lines.append(f"Mismatched elements: {mismatched} / {total} ({100.0 * mismatched / max(total, 1):.1f}%) "
                     f"at atol={j['tolerance']['atol']}, rtol={j['tolerance']['rtol']}")
    at = f" at index {tuple(g['max_abs_index'])}" if g.get("max_abs_index") is not None else ""
    lines.append(f"Greatest absolute difference: {_fmt(g.get('max_abs'))}{at} (vs golden, float64)")
    if g.get("max_rel") is not None:
        at = f" at index {tuple(g['max_rel_index'])}" if g.get("max_rel_index") is not None else ""
        lines.append(f"Greatest relative difference: {_fmt(g.get('max_rel'))}{at}")
    e = j.get("explained", {})
    lines.append(f"Precision yardstick: the eager reference (naive) is off by {_fmt(e.get('naive_max_abs'))} max abs, "
                 f"the correct tiled kernel by {_fmt(e.get('tiled_max_abs'))}")
    bad = [x for x in j.get("gates", []) if not x["pass"]]
    for x in bad:
        lines.append(f"Failing gate {x['name']}: {_fmt(x['value'])} against bound {_fmt(x['bound'])}"
                     + (f" ({x['note']})" if x.get("note") else ""))
    for f in j.get("failures", []):
        if not f.startswith("gate "):  # the failing gates are listed above
            lines.append(f"Failure: {f}")
    for w in where:
        lines.append(f"where: {w}")
    d = j.get("diagnosis")
    if d:
        lines.append(f"Diagnosis: {d['verdict']}")
        for h in d["hypotheses"][:3]:
            lines.append(f"  {h['name']} (score {h['score']:.3f}): {h['evidence']}")
    return "\n".join(lines)


class Case:
    """One resolved case of a suite: settings, inputs, references, and the judge."""

    def __init__(self, core_case):
        self._core = core_case
        self._inputs = None
        self._settings = None

    name = property(lambda self: self._core.name)
    suite = property(lambda self: self._core.suite)
    shape = property(lambda self: self._core.shape, doc="{batch, tokens, kv_tokens, q_offset, heads, kv_heads, head_dim}")
    causal = property(lambda self: self._core.causal)
    window = property(lambda self: self._core.window)
    q_offset = property(lambda self: self._core.q_offset)
    scale = property(lambda self: self._core.scale)
    tiles = property(lambda self: self._core.tiles, doc="(q, kv): queries and keys per tile of the tiled kernel")
    precision = property(lambda self: self._core.precision)
    has_sinks = property(lambda self: self._core.has_sinks)

    @property
    def settings(self):
        """The resolved case as a dict, exactly as `attn-diff dump` writes it in case.json's cases[0]."""
        if self._settings is None:
            self._settings = _json.loads(self._core.settings_json)
        return _json.loads(_json.dumps(self._settings))

    @property
    def inputs(self):
        """{q, k, v[, sinks][, do]}: read-only float32 NumPy views (bshd; sinks [H]; a backward case's
        upstream gradient do [B, Sq, H, D]) of the core's buffers."""
        if self._inputs is None:
            self._inputs = self._core.inputs()
        return dict(self._inputs)

    @property
    def input_scales(self):
        """Per-tensor scales of the fp8 and int8 recipes (each input value is code x scale), else 1; with
        kv_scale=per_head, k and v are lists with one scale per KV head."""
        return self._core.input_scales()

    @property
    def golden(self):
        """The float64 reference output (bshd), read-only."""
        return self._core.golden()

    @property
    def naive(self):
        """The eager reference's output (the recipe's PyTorch-like precision), as float64, read-only."""
        return self._core.naive()

    def tiled(self):
        """The correct tiled kernel's output (float32, bshd): a candidate that passes."""
        return self._core.tiled()

    def mutant(self, name):
        """The built-in mutant `name`'s output (float32, bshd): a candidate your test must fail."""
        return self._core.mutant(name)

    def judge(self, out, layout="bshd", *, lse=None, dq=None, dk=None, dv=None, dsinks=None, diagnose=True):
        """Judges a kernel's output for this case; returns a JudgeResult (a failure is diagnosed).

        lse ([B, H, Sq]) may be handed back with any case and is then judged too; a backward case
        (settings["backward"]) needs dq, dk, dv in `layout` and, with sinks, dsinks ([H]) (SPEC section 10)."""
        arr, bf16 = _as_array(out)
        extra = []
        for name, x in (("lse", lse), ("dq", dq), ("dk", dk), ("dv", dv), ("dsinks", dsinks)):
            if x is not None:
                extra.append((name, *_as_array(x, name)))
        return JudgeResult(self._core.judge(arr, layout, bf16, diagnose, "out", extra))

    def golden_tensors(self):
        """A backward case's float64 references beside the output: {lse, dq, dk, dv[, dsinks]} (SPEC
        section 10), read-only; {} for a forward case."""
        return dict(self._core.golden_tensors())

    def __repr__(self):
        s = self.shape
        return (f"<Case {self.name!r} {self.precision} B={s['batch']} Sq={s['tokens']} Sk={s['kv_tokens']} "
                f"H={s['heads']} Hkv={s['kv_heads']} D={s['head_dim']} causal={self.causal} window={self.window} "
                f"sinks={self.has_sinks}>")


class Suite:
    """A loaded suite file: `.name`, `.cases` (a list of Case), iterable, with len() and [name]."""

    def __init__(self, core_suite):
        self._core = core_suite
        self.name = core_suite.name
        self.file = core_suite.file
        self.description = core_suite.description
        self.cases = [Case(c) for c in core_suite.cases]

    def __iter__(self):
        return iter(self.cases)

    def __len__(self):
        return len(self.cases)

    def __getitem__(self, key):
        if isinstance(key, str):
            for c in self.cases:
                if c.name == key:
                    return c
            raise KeyError(f"suite '{self.name}' has no case '{key}'")
        return self.cases[key]

    def __repr__(self):
        return f"<Suite {self.name!r} ({len(self.cases)} cases) from {self.file!r}>"


def load_suite(path, *, threads=0, precision=None, seed=None):
    """Loads and validates a suite file (SPEC section 4). Raises ValueError with the CLI's messages.

    precision: a recipe (as `--precision`: a preset, optionally with +key=value overrides, e.g.
    "fp32+kv=fp16") that every case runs in instead of its own, with that recipe's default gates.
    seed: overrides every case's seed (as `run --seed`)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**53):
        raise ValueError(f"seed: error: {seed!r} is not an integer in 0..2^53-1")
    return Suite(_core.load_suite(str(path), threads, None if precision is None else str(precision), seed))


def check(out, q, k, v, sinks=None, *, causal=True, window=0, q_offset=None, scale=None, precision="bf16-mixed",
          layout="bshd", diagnose=True, threads=0):
    """Judges `out` for the caller's own q, k, v (bshd; k, v [B, Sk, Hkv, D]) and sinks ([H] or None).

    The inputs are rounded (or quantised) to the recipe's input dtype first, as a case's inputs are;
    q_offset defaults to Sk - Sq and scale to 1/sqrt(D) (SPEC section 2)."""
    core = _core.adhoc_case(_as_input(q, "q"), _as_input(k, "k"), _as_input(v, "v"), _as_input(sinks, "sinks"),
                            bool(causal), int(window), q_offset, scale, precision, threads)
    return Case(core).judge(out, layout, diagnose=diagnose)


def assert_close(out, q, k, v, sinks=None, **kwargs):
    """check(), raising AssertionError with the mismatch summary and the diagnosis unless it passes."""
    r = check(out, q, k, v, sinks, **kwargs)
    if not r.passed:
        raise AssertionError(r.message())
    return r


def write_reports(results, *, json=None, html=None, junit=None, md=None):
    """Writes one report of many JudgeResults (the JSON report v1, HTML, JUnit XML, Markdown), each
    atomically, with attn-diff's own renderers."""
    results = list(results)
    for r in results:
        if not isinstance(r, JudgeResult):
            raise TypeError(f"write_reports takes JudgeResult objects, got {type(r).__name__}")
    _core.write_reports([r._core for r in results], str(json or ""), str(html or ""), str(junit or ""), str(md or ""))


def mutant_names():
    """The built-in mutants (attn-diff list-mutants)."""
    return _core.mutant_names()


def layout_names():
    return _core.layout_names()


# The candidate worker (SPEC section 13): pure Python, imported last because it uses _as_array.
from .worker import serve, Unsupported, WorkerCase  # noqa: E402
