#include "src/cli/run_external.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "src/base/diagnostic.hpp"
#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/judge/external.hpp"
#include "src/judge/worker.hpp"

namespace attn {

void setup_run_external(CLI::App& app, RunCommandOptions& opt) {
  app.add_option("--candidate-cmd", opt.candidate_cmd,
                 "judge an external kernel: shell command run per case with {inputs} {out} {case} replaced");
  app.add_option("--candidate-worker", opt.candidate_worker,
                 "judge an external kernel kept warm: command started once, sent one JSON-lines request per case "
                 "(protocol attn-diff.worker.v1, docs/workers.md), e.g. --candidate-worker 'python3 my_worker.py'");
  app.add_option("--timeout", opt.timeout,
                 "seconds --candidate-cmd may run per case, or --candidate-worker may take per case and for its "
                 "handshake (default 300, at most a week)")
      ->transform(timeout_seconds());
  app.add_flag("--keep-temp", opt.keep_temp, "keep each case's temporary inputs and output of --candidate-cmd or --candidate-worker");
  app.add_option("--layout", opt.layout, "layout of the external kernel's output: bshd (default), bhsd, bs(hd), s(hd)");
  app.add_flag("--bf16-bits", opt.bf16_bits, "read the external kernel's '<u2'/'<i2' .npy output as bf16 bits");
  app.add_flag("--diagnose", opt.diagnose, "diagnose every failing case (default with --candidate-cmd and --candidate-worker)");
  app.add_flag("--no-diagnose", opt.no_diagnose, "do not diagnose failing cases");
}

bool check_candidate_cmd(const std::string& command) {
  const std::string problem = candidate_command_problem(command);
  if (!problem.empty()) std::fprintf(stderr, "error: %s\n", problem.c_str());
  return problem.empty();
}

bool check_candidate_worker(const std::string& command) {
  const std::string problem = worker_command_problem(command);
  if (!problem.empty()) std::fprintf(stderr, "error: %s\n", problem.c_str());
  return problem.empty();
}

bool check_one_candidate(bool mutant, bool cmd, bool worker) {
  if (int(mutant) + int(cmd) + int(worker) <= 1) return true;
  std::fprintf(stderr, "error: %s each choose the candidate; pass one\n",
               mutant && cmd && worker ? "--mutant, --candidate-cmd and --candidate-worker"
               : !mutant               ? "--candidate-cmd and --candidate-worker"
               : cmd                   ? "--mutant and --candidate-cmd"
                                       : "--mutant and --candidate-worker");
  return false;
}

void print_kept(const std::string& name, const std::string& dir) {
  std::fprintf(stderr, "attn-diff: case '%s': kept %s\n", name.c_str(), dir.c_str());
}

bool apply_run_external(const RunCommandOptions& opt, bool has_mutant, Candidate* cand, RunExternal* out) {
  const auto layout = layout_from_name(opt.layout);
  if (!layout) {
    std::fprintf(stderr, "%s\n", unknown_layout_message(opt.layout).c_str());
    return false;
  }
  out->layout = *layout;
  out->diagnose = !opt.no_diagnose && (opt.diagnose || opt.candidate_cmd || opt.candidate_worker);
  if (opt.candidate_cmd && !check_candidate_cmd(*opt.candidate_cmd)) return false;
  if (opt.candidate_worker && !check_candidate_worker(*opt.candidate_worker)) return false;
  if (!check_one_candidate(has_mutant, opt.candidate_cmd.has_value(), opt.candidate_worker.has_value())) return false;
  const CandidateReadOptions read{.layout = *layout, .bf16_bits = opt.bf16_bits};
  if (opt.candidate_cmd) {
    const ExternalOptions ext{.command = *opt.candidate_cmd, .timeout_s = opt.timeout, .keep_temp = opt.keep_temp,
                              .on_kept = print_kept, .read = read};
    out->make_candidate = [ext] { return external_candidate(ext); };
  }
  if (opt.candidate_worker) {
    const WorkerOptions worker{.command = *opt.candidate_worker, .timeout_s = opt.timeout, .keep_temp = opt.keep_temp,
                               .on_kept = print_kept, .read = read, .threads = resolve_threads(opt.threads)};
    out->make_candidate = [worker] { return worker_candidate(worker); };  // each call: its own worker process
  }
  if (out->make_candidate) *cand = out->make_candidate();
  return true;
}

}  // namespace attn
