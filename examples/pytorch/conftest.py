"""Loads attn_diff's pytest plugin and adds --kernel-bug, to run the same tests on a buggy kernel."""
pytest_plugins = ["attn_diff.pytest_plugin"]


def pytest_addoption(parser):
    parser.addoption("--kernel-bug", default="none", choices=["none", "window_off_by_one"],
                     help="run the tests on kernel.py with this bug injected (default: none)")
