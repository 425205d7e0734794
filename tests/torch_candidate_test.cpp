// scripts/torch_candidate.py, the PyTorch example candidate, through run --candidate-cmd and
// compare. Runs only where Debian's python3-torch and python3-numpy are installed; otherwise it
// says it skipped (a warning in the test output), it does not pass silently.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "tests/cli_helpers.hpp"

using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

// /usr/bin/python3 explicitly: `python3` on PATH may be a pyenv or venv interpreter without torch.
// ATTN_DIFF_PYTHON overrides it (another interpreter with torch, or a missing one to see the skip).
const std::string kPython = std::getenv("ATTN_DIFF_PYTHON") ? std::getenv("ATTN_DIFF_PYTHON") : "/usr/bin/python3";

bool torch_available() {
  return std::system((kPython + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0;
}

std::string script(const std::string& extra = "") {
  return "--candidate-cmd '" + kPython + " scripts/torch_candidate.py {inputs} {out}" + extra + "'";
}

}  // namespace

TEST_CASE("torch candidate: the PyTorch sdpa passes phase1 and the hard phase2/3 cases", "[torch][cli]") {
  if (!torch_available()) {
    WARN("SKIPPED: " << kPython << " cannot import torch and numpy; install them with "
                     << "`apt-get install python3-torch python3-numpy` to run this test");
    return;
  }
  auto r = run_cli("run -c configs/phase1.json " + script());
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("8 cases, 8 passed, 0 failed"));
  for (const char* c : {"combo_bf16-mixed", "combo_full_fp32", "combo_noncausal_window_bf16", "combo_int8"}) {
    r = run_cli(std::string("run -c configs/phase2.json --case ") + c + " " + script());
    INFO(r.out);
    CHECK(r.code == 0);
  }
  r = run_cli("run -c configs/phase3.json --case 'empty_rows*' --case window_1 " + script());
  INFO(r.out);
  CHECK(r.code == 0);
}

TEST_CASE("torch candidate: an injected bug fails and is diagnosed", "[torch][cli]") {
  if (!torch_available()) {
    WARN("SKIPPED: " << kPython << " cannot import torch and numpy (apt-get install python3-torch python3-numpy)");
    return;
  }
  for (const char* bug : {"no_sinks", "window_off_by_one"}) {
    const auto r = run_cli("run -c configs/phase2.json --case combo_bf16-mixed " + script(std::string(" --bug ") + bug));
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK_THAT(r.out, Contains(std::string("diagnosis of combo_bf16-mixed:\n  1. ") + bug));
  }
  TempDir dir("torch_compare");
  REQUIRE(run_cli("dump -c configs/phase1.json --case causal --out " + dir.path.string()).code == 0);
  const std::string out = dir.file("o.npy");
  REQUIRE(std::system((kPython + " " + ATTN_DIFF_SOURCE_DIR + "/scripts/torch_candidate.py " + dir.path.string() + " " + out +
                       " --bug bhsd_reshape").c_str()) == 0);
  const auto r = run_cli("diagnose --inputs " + dir.path.string() + " --candidate " + out);
  INFO(r.out);
  CHECK_THAT(r.out, Contains("most likely: layout:bhsd"));
}
