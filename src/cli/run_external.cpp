#include "src/cli/run_external.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "src/base/diagnostic.hpp"
#include "src/cli/common.hpp"
#include "src/judge/external.hpp"

namespace attn {

void setup_run_external(CLI::App& app, RunCommandOptions& opt) {
  app.add_option("--candidate-cmd", opt.candidate_cmd,
                 "judge an external kernel: shell command run per case with {inputs} {out} {case} replaced");
  app.add_option("--timeout", opt.timeout, "seconds --candidate-cmd may run per case (default 300, at most a week)")
      ->transform(timeout_seconds());
  app.add_flag("--keep-temp", opt.keep_temp, "keep each case's temporary inputs and output of --candidate-cmd");
  app.add_option("--layout", opt.layout, "layout of --candidate-cmd's output: bshd (default), bhsd, bs(hd), s(hd)");
  app.add_flag("--bf16-bits", opt.bf16_bits, "read --candidate-cmd's '<u2'/'<i2' .npy output as bf16 bits");
  app.add_flag("--diagnose", opt.diagnose, "diagnose every failing case (default with --candidate-cmd)");
  app.add_flag("--no-diagnose", opt.no_diagnose, "do not diagnose failing cases");
}

bool check_candidate_cmd(const std::string& command) {
  const std::string problem = candidate_command_problem(command);
  if (!problem.empty()) std::fprintf(stderr, "error: %s\n", problem.c_str());
  return problem.empty();
}

bool apply_run_external(const RunCommandOptions& opt, bool has_mutant, Candidate* cand, RunExternal* out) {
  const auto layout = layout_from_name(opt.layout);
  if (!layout) {
    std::fprintf(stderr, "%s\n", unknown_layout_message(opt.layout).c_str());
    return false;
  }
  out->layout = *layout;
  out->diagnose = !opt.no_diagnose && (opt.diagnose || opt.candidate_cmd);
  if (!opt.candidate_cmd) return true;
  if (!check_candidate_cmd(*opt.candidate_cmd)) return false;
  if (has_mutant) {
    std::fprintf(stderr, "error: --mutant and --candidate-cmd each choose the candidate; pass one\n");
    return false;
  }
  ExternalOptions ext{.command = *opt.candidate_cmd, .timeout_s = opt.timeout, .keep_temp = opt.keep_temp,
                      .on_kept =
                          [](const std::string& name, const std::string& dir) {
                            std::fprintf(stderr, "attn-diff: case '%s': kept %s\n", name.c_str(), dir.c_str());
                          },
                      .read = {.layout = *layout, .bf16_bits = opt.bf16_bits}};
  out->make_candidate = [ext] { return external_candidate(ext); };
  *cand = out->make_candidate();
  return true;
}

}  // namespace attn
