#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
#   bash scripts/test.sh            (extra arguments go to ctest, e.g. -R config)
set -euo pipefail
# xmllint reads the JUnit report back, Chromium renders the HTML report (tests/cli/html_render_test.cpp),
# PyTorch runs the eager reference as an external candidate (tests/cli/torch_candidate_test.cpp).
export ATTN_DIFF_EXTRA_PACKAGES="libxml2-utils chromium python3-torch python3-numpy"
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ATTN_DIFF_BUILD"
exec ctest --output-on-failure --parallel "$(nproc)" "$@"
