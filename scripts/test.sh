#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
#   bash scripts/test.sh            (extra arguments go to ctest, e.g. -R config)
set -euo pipefail
# xmllint reads the JUnit report back, Chromium renders the HTML report (tests/cli/html_render_test.cpp),
# PyTorch runs the eager reference as an external candidate (tests/cli/torch_candidate_test.cpp),
# pybind11 and the Python headers build the Python module (python/), pytest runs its tests
# (ctest python.pytest) with NumPy and PyTorch.
export ATTN_DIFF_EXTRA_PACKAGES="libxml2-utils chromium python3-torch python3-numpy pybind11-dev python3-pybind11 python3-dev python3-pytest"
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ATTN_DIFF_BUILD"
exec ctest --output-on-failure --parallel "$(nproc)" "$@"
