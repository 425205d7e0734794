// scripts/torch_candidate.py, the PyTorch example candidate, through run --candidate-cmd and
// compare. PyTorch's eager sdpa in the recipe's own dtype (bf16 for the bf16 cases) is the
// reference users compare against, so it must pass every case of phase1-3: this needs Debian's
// python3-torch and python3-numpy (scripts/test.sh installs them) and FAILS where they are missing,
// rather than passing without having run.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "tests/cli_helpers.hpp"

using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;

namespace {

// /usr/bin/python3 explicitly: `python3` on PATH may be a pyenv or venv interpreter without torch.
// ATTN_DIFF_PYTHON overrides it (another interpreter with torch).
const std::string kPython = std::getenv("ATTN_DIFF_PYTHON") ? std::getenv("ATTN_DIFF_PYTHON") : "/usr/bin/python3";

void require_torch() {
  const bool ok = std::system((kPython + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0;
  if (!ok)
    FAIL(kPython << " cannot import torch and numpy; install them with `apt-get install python3-torch python3-numpy` "
                    "(scripts/test.sh does) or point ATTN_DIFF_PYTHON at an interpreter that has them");
}

std::string script(const std::string& extra = "") {
  return "--candidate-cmd '" + kPython + " scripts/torch_candidate.py {inputs} {out}" + extra + "'";
}

}  // namespace

TEST_CASE("torch candidate: PyTorch's eager sdpa in the recipe's dtype passes every case of phase1-3", "[torch][cli]") {
  require_torch();
  // large_magnitude and outliers of phase3 failed max_abs_vs_expected and min_pass_rate before the
  // gate rule of docs/calibration.md: the eager bf16 error is the naive reference's exactly.
  for (const auto& [config, summary] : {std::pair{"phase1", "8 cases, 8 passed, 0 failed"},
                                        std::pair{"phase2", "13 cases, 13 passed, 0 failed"},
                                        std::pair{"phase3", "14 cases, 14 passed, 0 failed"}}) {
    const auto r = run_cli(std::string("run -q -c configs/") + config + ".json " + script(" --dtype eager"));
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK_THAT(r.out, Contains(summary));
  }
  // In float32 as well (the script's default), the way a user first writes the reference.
  const auto r = run_cli("run -q -c configs/phase1.json " + script());
  INFO(r.out);
  CHECK(r.code == 0);
}

TEST_CASE("torch candidate: an injected bug fails and is diagnosed", "[torch][cli]") {
  require_torch();
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

TEST_CASE("torch candidate: autograd in float32 and in the recipe's dtype passes configs/backward.json", "[torch][cli][backward]") {
  require_torch();
  // Every tensor judged, through --candidate-cmd (one process per case, float32) and the worker
  // (eager: bf16 autograd for the bf16-mixed cases, the naive reference's own arithmetic).
  TempDir dir("torch_backward");
  const std::string report = dir.file("r.json");
  const auto r = run_cli("run -q -c configs/backward.json --case prefill_window_128 --case empty_rows " + script() +
                         " --json " + report);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("2 cases, 2 passed, 0 failed"));
  for (const auto& c : attn::test::read_json(report)["cases"]) CHECK(c["tensors"].size() == 5);  // lse handed back too
  const auto w = run_cli("run -q -c configs/backward.json --candidate-worker 'PYTHONPATH=build/python " + kPython +
                         " scripts/torch_candidate.py --worker --dtype eager'");
  INFO(w.out);
  CHECK(w.code == 0);
  CHECK_THAT(w.out, Contains("7 cases, 7 passed, 0 failed"));
  // A forward bug breaks the gradients it touches: without sinks, dsinks is zero and the LSE is off.
  const auto bug = run_cli("run -c configs/backward.json --case decode_chunk_full " + script(" --bug no_sinks"));
  INFO(bug.out);
  CHECK(bug.code == 1);
  CHECK_THAT(bug.out, Contains("lse: gate max_abs_vs_naive") && Contains("dsinks: gate"));
}
