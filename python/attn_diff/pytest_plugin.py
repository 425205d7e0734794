"""pytest integration for attn_diff (docs/python.md, "pytest").

Load it with ``-p attn_diff.pytest_plugin`` on the command line or ``pytest_plugins =
["attn_diff.pytest_plugin"]`` in a conftest.py. It gives:

- ``cases(*suites, select=None)``: the cases of one or more suite files as ``pytest.param`` values
  with readable ids (``phase1/sinks``), for ``@pytest.mark.parametrize("case", cases(...))``.
- the ``attn_judge`` fixture: ``attn_judge(case, out)`` judges a kernel's output, records the result
  for the run's report and, unless the verdict is ``pass``, fails the test with the account
  ``assert_close`` gives (mismatches, failed gates, where, diagnosis);
  ``attn_judge.catches(case, out, cause=None)`` asserts the opposite (a mutant's output must fail,
  diagnosed as ``cause``), for checking that a test catches bugs.
- options ``--attn-diff-report DIR`` (writes DIR/attn-diff.json, .html, .md and junit.xml) and
  ``--attn-diff-json/--attn-diff-html/--attn-diff-junit/--attn-diff-md FILE``: every case judged
  through ``attn_judge`` during the run goes into one report, written by ``attn_diff.write_reports``.

    import attn_diff
    import pytest
    from attn_diff.pytest_plugin import cases

    @pytest.mark.parametrize("case", cases("configs/phase1.json"))
    def test_my_kernel(case, attn_judge):
        attn_judge(case, my_kernel(case))

    def test_catches_missing_sinks(attn_judge):
        case = attn_diff.load_suite("configs/phase1.json")["sinks"]
        attn_judge.catches(case, case.mutant("no_sinks"), cause="no_sinks")
"""
import fnmatch
import os

import pytest

import attn_diff  # the package this module belongs to: already imported when pytest loads the plugin

REPORT_FILES = {"json": "attn-diff.json", "html": "attn-diff.html", "junit": "junit.xml", "md": "attn-diff.md"}


def cases(*suites, select=None):
    """The cases of `suites` (suite file paths or loaded Suite objects) as pytest.param values.

    Each id is ``SUITE/CASE`` (the suite's name, e.g. ``phase1/sinks``), so ``-k phase1`` or
    ``-k sinks`` picks cases. `select`: a glob or a list of globs over case names (or ids) to keep.
    A suite file that cannot be loaded raises the module's error at collection, naming the file.
    """
    if not suites:
        raise TypeError("cases() needs at least one suite file")
    globs = [select] if isinstance(select, str) else list(select or [])
    params = []
    for suite in suites:
        if isinstance(suite, (str, os.PathLike)):
            suite = attn_diff.load_suite(os.fspath(suite))
        for case in suite.cases:
            ident = f"{suite.name}/{case.name}"
            if globs and not any(fnmatch.fnmatchcase(case.name, g) or fnmatch.fnmatchcase(ident, g) for g in globs):
                continue
            params.append(pytest.param(case, id=ident))
    if globs and not params:
        raise ValueError(f"cases(): no case of {', '.join(map(str, suites))} matches {', '.join(globs)}")
    return params


class Judge:
    """The `attn_judge` fixture's value: judges, records and asserts."""

    def __init__(self, collector):
        self._collector = collector

    def __call__(self, case, out, layout="bshd"):
        """Judges `out` for `case`, records the result in the run's report, fails unless it passes."""
        result = case.judge(out, layout=layout)
        self._collector.append(result)
        if not result.passed:
            pytest.fail(result.message(), pytrace=False)
        return result

    def catches(self, case, out, cause=None, layout="bshd"):
        """Asserts that `out` (e.g. ``case.mutant("no_sinks")``) fails the case, diagnosed as `cause`.

        The result is not recorded in the run's report: it is a test of the test, not of a kernel.
        """
        result = case.judge(out, layout=layout)
        if result.passed:
            pytest.fail(f"attn-diff: {case.name}: the output passed (verdict {result.verdict}); "
                        f"a test judging it this way would not catch this bug", pytrace=False)
        if cause is not None and result.cause != cause:
            pytest.fail(f"attn-diff: {case.name}: failed as expected, but the diagnosis says "
                        f"{result.cause or 'nothing'}, not {cause}\n{result.message()}", pytrace=False)
        return result


def pytest_addoption(parser):
    group = parser.getgroup("attn-diff", "attn-diff reports of the cases judged through attn_judge")
    group.addoption("--attn-diff-report", metavar="DIR",
                    help="write every judged case into DIR/attn-diff.json, .html, .md and DIR/junit.xml")
    for kind in REPORT_FILES:
        group.addoption(f"--attn-diff-{kind}", metavar="FILE", help=f"write every judged case into one {kind} report")


class _Collector:
    def __init__(self, targets):
        self.targets = targets
        self.results = []
        self.written = None
        self.error = None

    def append(self, result):
        self.results.append(result)


def _targets(config):
    targets = {}
    folder = config.getoption("attn_diff_report")
    if folder:
        targets = {kind: os.path.join(folder, name) for kind, name in REPORT_FILES.items()}
    for kind in REPORT_FILES:
        path = config.getoption(f"attn_diff_{kind}")
        if path:
            targets[kind] = path
    return targets


def pytest_configure(config):
    config._attn_diff = _Collector(_targets(config))


@pytest.fixture
def attn_judge(request):
    """attn_judge(case, out, layout="bshd") -> JudgeResult; attn_judge.catches(case, out, cause=None)."""
    return Judge(request.config._attn_diff)


def pytest_sessionfinish(session, exitstatus):
    collector = getattr(session.config, "_attn_diff", None)
    if collector is None or not collector.targets:
        return
    try:
        for path in collector.targets.values():
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        attn_diff.write_reports(collector.results, **collector.targets)
        collector.written = collector.targets
    except Exception as e:  # a report that cannot be written fails the run (SPEC: exit 3 in the CLI)
        collector.error = f"{type(e).__name__}: {e}"
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    collector = getattr(config, "_attn_diff", None)
    if collector is None or not collector.targets:
        return
    if collector.error:
        terminalreporter.write_line(f"attn-diff: error: cannot write the report: {collector.error}", red=True)
        return
    passed = sum(1 for r in collector.results if r.passed)
    files = ", ".join(collector.written.values())
    terminalreporter.write_line(f"attn-diff: {len(collector.results)} judged cases, {passed} passed, "
                                f"{len(collector.results) - passed} not; report: {files}")
