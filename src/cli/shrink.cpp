#include "src/cli/shrink.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "kernels/mutants.hpp"
#include "src/base/fileio.hpp"
#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/cli/run_external.hpp"
#include "src/cli/signals.hpp"
#include "src/io/dumpdir.hpp"
#include "src/io/npy.hpp"
#include "src/judge/external.hpp"
#include "src/judge/worker.hpp"
#include "src/report/table.hpp"
#include "src/suite/config.hpp"
#include "src/tools/shrink.hpp"

namespace attn {

void setup_shrink(CLI::App& app, ShrinkCommandOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file holding the failing case")->required();
  app.add_option("--case", opt.case_name, "the failing case (its name, or a glob matching exactly one case)")->required();
  app.add_option("--mutant", opt.mutant, "the candidate: this mutant of the tiled kernel (see list-mutants)");
  app.add_option("--candidate-cmd", opt.candidate_cmd,
                 "or an external kernel: a shell command with {inputs} {out} {case}, as in run");
  app.add_option("--candidate-worker", opt.candidate_worker,
                 "or an external kernel kept warm: a command started once and sent every candidate case, as in run "
                 "(docs/workers.md)");
  app.add_option("--timeout", opt.timeout, "seconds per external command run or worker request (default 300, at most a "
                                           "week); a timeout counts as not reproducing")->transform(timeout_seconds());
  add_precision_option(app, opt.precision);
  app.add_option("--out,-o", opt.out, "write the minimal case's config here (default: stdout)");
  app.add_option("--dump", opt.dump,
                 "write the minimal case as `dump` does (inputs, golden, naive, tiled, case.json) plus the candidate's "
                 "output candidate.npy into this folder");
  app.add_option("--json", opt.json, "write the reduction as JSON: original, reason, every step, the minimal case");
  app.add_option("--max-runs", opt.max_runs, "stop after this many candidate runs (default 2000)")->transform(integer_in(1, 1000000000));
  app.add_option("--max-seconds,--max-time", opt.max_seconds,
                 "stop reducing after this many seconds, not counting the original case's run (default 30)")
      ->transform(seconds_in(0, /*min_exclusive=*/false));
  app.add_flag("--no-diagnose", opt.no_diagnose,
               "smaller cases keep only the failing gate, not also the original's top diagnose hypothesis");
  app.add_option("--max-diagnose-seconds", opt.max_diagnose_seconds,
                 "diagnose the original only if that takes about this long at most (default 5); else the hypothesis "
                 "is taken from the first smaller case")
      ->transform(seconds_in(0, /*min_exclusive=*/false));
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line on stderr");
}

int run_shrink(const ShrinkCommandOptions& opt) {
  if (opt.candidate_cmd && !check_candidate_cmd(*opt.candidate_cmd)) return kExitUsage;
  if (opt.candidate_worker && !check_candidate_worker(*opt.candidate_worker)) return kExitUsage;
  if (!check_one_candidate(!opt.mutant.empty(), opt.candidate_cmd.has_value(), opt.candidate_worker.has_value()))
    return kExitUsage;
  if (opt.mutant.empty() && !opt.candidate_cmd && !opt.candidate_worker) {
    std::fprintf(stderr, "error: shrink needs exactly one candidate to shrink the failure of: --mutant NAME, "
                         "--candidate-cmd CMD or --candidate-worker CMD\nnote: attn-diff list-mutants prints the mutants\n");
    return kExitUsage;
  }
  if (opt.candidate_cmd)
    return run_shrink_with(opt, external_candidate({.command = *opt.candidate_cmd, .timeout_s = opt.timeout}));
  if (opt.candidate_worker)
    return run_shrink_with(opt, worker_candidate({.command = *opt.candidate_worker, .timeout_s = opt.timeout,
                                                  .threads = resolve_threads(opt.threads)}));
  const MutantInfo* m = lookup_mutant(opt.mutant);
  if (!m) return kExitUsage;
  return run_shrink_with(opt, mutant_candidate(*m, resolve_threads(opt.threads)));
}

namespace {

// --dump: the minimal case's dump directory (SPEC §8) and the candidate's output on it, so the case
// can be stepped through elsewhere and `diagnose --inputs DIR --candidate DIR/candidate.npy` reruns.
bool dump_minimal(const std::string& dir, const CaseSpec& c, const std::string& config, const Candidate& cand,
                  int threads, std::string* err) {
  PreparedCase p = prepare_case(c, threads);
  std::vector<double> tiled, candidate;
  tiled_candidate(threads).produce(p, &tiled, err);
  if (!write_dump({.dir = dir, .suite = "shrunk", .config = config}, c, p.inputs,
                  {.golden = p.golden, .naive = p.naive, .tiled = tiled}, err))
    return false;
  std::string cand_err;
  if (!cand.produce(p, &candidate, &cand_err) || candidate.size() != p.golden.size()) {
    std::fprintf(stderr, "note: candidate.npy not written: the candidate %s on the minimal case\n",
                 cand_err.empty() ? "gave the wrong number of values" : ("failed: " + cand_err).c_str());
    return true;
  }
  const Shape& s = c.problem.shape;
  return write_npy_f64((std::filesystem::path(dir) / "candidate.npy").string(), {s.batch, s.tokens, s.heads, s.head_dim},
                       candidate, err);
}

// The log on stderr as the reduction goes: what the original fails, a row per accepted step, and
// on a terminal a progress line that each row clears.
struct ShrinkLog {
  bool progress = false;  // stderr is a terminal
  std::size_t step_no = 0;
  double last_progress = -1.0;

  void clear_progress() const {
    if (progress) std::fprintf(stderr, "\r\033[K");
  }

  static void verified(const ShrinkResult& r) {
    std::string also;
    for (const std::string& g : r.reason.failing)
      if (g != r.reason.gate) also += (also.empty() ? "" : ", ") + g;
    std::fprintf(stderr, "original: fails gate %s%s (%.1f s)\n", r.reason.gate.c_str(),
                 also.empty() ? "" : fmt::format(" (also {})", also).c_str(), r.verify_seconds);
    if (!r.reason.hypothesis.empty())
      std::fprintf(stderr, "original: diagnose ranks %s first (%.1f s); smaller cases must too\n",
                   r.reason.hypothesis.c_str(), r.diagnose_seconds);
    else if (!r.diagnosis_note.empty())
      std::fprintf(stderr, "note: %s\n", r.diagnosis_note.c_str());
    if (!r.reference_guard)
      std::fprintf(stderr, "note: the correct tiled kernel fails the original too, so smaller cases are not checked "
                           "against it\n");
    std::fprintf(stderr, "step  pass       runs  seconds  change\n");
  }

  void step(const ShrinkStep& s) {
    clear_progress();
    std::fprintf(stderr, "%4zu  %-9s  %4d  %7.2f  %s\n", ++step_no, s.pass.c_str(), s.runs, s.seconds, s.change.c_str());
  }

  void trying(const ShrinkProgress& p) {
    if (p.seconds - last_progress < 0.1) return;  // ten updates a second are enough to read
    last_progress = p.seconds;
    std::fprintf(stderr, "\r\033[K  [%d runs, %.1f s] %s: %s %s", p.runs, p.seconds, p.pass,
                 shape_label(p.trying->problem.shape).c_str(), features_label(*p.trying).c_str());
    std::fflush(stderr);
  }

  void attach(ShrinkOptions& so) {
    so.on_verified = verified;
    so.on_step = [this](const ShrinkStep& s) { step(s); };
    if (progress) so.on_progress = [this](const ShrinkProgress& p) { trying(p); };
  }
};

// The message and exit code of an original that could not be shrunk: those `run` would give it.
int report_not_shrunk(const ShrinkResult& r, const std::string& config, const CaseSpec& original, const Candidate& cand) {
  switch (r.status) {
    case ShrinkResult::Status::unsupported:
      std::fprintf(stderr, "%s: case '%s': error: %s cannot run this case: %s\n", printable(config).c_str(),
                   original.name.c_str(), cand.kernel.c_str(), r.message.c_str());
      return kExitUsage;
    case ShrinkResult::Status::candidate_error:
      std::fprintf(stderr, "%s: case '%s': error: %s failed to run on the original case: %s\n", printable(config).c_str(),
                   original.name.c_str(), cand.kernel.c_str(), r.message.c_str());
      return kExitRuntime;
    case ShrinkResult::Status::not_failing:
      std::fprintf(stderr, "%s: case '%s': %s passes it (%.1f s): nothing to shrink\n", printable(config).c_str(),
                   original.name.c_str(), cand.kernel.c_str(), r.verify_seconds);
      return kExitPass;
    case ShrinkResult::Status::shrunk: break;
  }
  return kExitFail;
}

// The summary line (printed with --quiet too), the pinned hypothesis and the candidate's errors.
void print_summary(const ShrinkResult& r, const CaseSpec& original) {
  std::string rejected;
  for (const auto& [outcome, n] : r.outcomes)
    if (outcome != Repro::same_failure) rejected += fmt::format("{}{} {}", rejected.empty() ? "" : ", ", n, repro_name(outcome));
  std::fprintf(stderr, "shrunk %s to %s %s in %.1f s after %.1f s on the original: %d runs, %zu steps (%s); stopped at %s%s\n",
               shape_label(original.problem.shape).c_str(), shape_label(r.minimal.problem.shape).c_str(),
               features_label(r.minimal).c_str(), r.shrink_seconds, r.verify_seconds, r.runs, r.steps.size(),
               rejected.empty() ? "nothing rejected" : rejected.c_str(), r.stopped.c_str(),
               r.over_budget ? fmt::format(", {} proposals skipped as too slow for the time left", r.over_budget).c_str() : "");
  if (!r.hypothesis_from.empty() && r.hypothesis_from != "original")
    std::fprintf(stderr, "note: top hypothesis %s pinned at %s (the original was too big to diagnose in time)\n",
                 r.reason.hypothesis.c_str(), r.hypothesis_from.c_str());
  for (const CandidateErrorRecord& e : r.candidate_errors)
    std::fprintf(stderr, "note: candidate error on %s %s (%s pass), counted as not reproducing: %s\n",
                 shape_label(e.proposal.problem.shape).c_str(), features_label(e.proposal).c_str(), e.pass.c_str(),
                 e.message.c_str());
}

int shrink_and_report(const ShrinkCommandOptions& opt, const Candidate& cand) {
  const int threads = resolve_threads(opt.threads);
  LoadOptions load{.threads = threads, .precision = opt.precision};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  const CaseSpec* original = find_one_case(suite, opt.config, opt.case_name, "shrink");
  if (!original) return kExitUsage;
  std::vector<PathOption> outputs = {{"--out", opt.out}, {"--json", opt.json}};
  if (!opt.dump.empty()) {
    std::vector<std::string> names = dump_file_names();
    names.push_back("candidate.npy");
    for (PathOption& o : folder_outputs("--dump", opt.dump, names)) outputs.push_back(std::move(o));
  }
  if (!check_output_paths({{"--config", opt.config}}, outputs)) return kExitUsage;

  ShrinkLog log{.progress = !opt.quiet && ::isatty(STDERR_FILENO)};
  if (!opt.quiet)
    std::fprintf(stderr, "shrink: case '%s' (%s %s) with %s: running the original case\n", original->name.c_str(),
                 shape_label(original->problem.shape).c_str(), features_label(*original).c_str(), cand.kernel.c_str());
  ShrinkOptions so{.threads = threads, .max_runs = opt.max_runs, .max_seconds = opt.max_seconds,
                  .same_diagnosis = !opt.no_diagnose, .max_diagnose_seconds = opt.max_diagnose_seconds};
  if (!opt.quiet) log.attach(so);
  const ShrinkResult r = shrink_case(*original, cand, so);
  log.clear_progress();

  const CaseSpec minimal = named_minimal(r, *original, cand.kernel);
  std::string err;
  if (!opt.json.empty() &&
      !write_file_atomic(opt.json, shrink_report_json(r, *original, minimal, opt.config, cand.kernel).dump(2) + "\n", &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  if (r.status != ShrinkResult::Status::shrunk) return report_not_shrunk(r, opt.config, *original, cand);
  print_summary(r, *original);
  const std::string text = shrunk_suite(minimal, r, *original, opt.config, cand.kernel).dump(2) + "\n";
  if (opt.out.empty()) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  } else if (!write_file_atomic(opt.out, text, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  if (!opt.dump.empty()) {
    if (!dump_minimal(opt.dump, minimal, opt.config, cand, threads, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return kExitRuntime;
    }
    if (!opt.quiet) std::fprintf(stderr, "wrote the minimal case's inputs, references and candidate.npy to %s\n", opt.dump.c_str());
  }
  return kExitFail;
}

}  // namespace

int run_shrink_with(const ShrinkCommandOptions& opt, const Candidate& cand) {
  // Ctrl-C or SIGTERM: the candidate's run is stopped (an external command's process group killed
  // and its temporary directory removed, src/judge/external.hpp) and nothing is written: a reduction cut
  // short is not the minimal case.
  const InterruptScope stop_on_signal;
  try {
    return shrink_and_report(opt, cand);
  } catch (const Interrupted&) {
    std::fprintf(stderr, "attn-diff: interrupted: shrink stopped; nothing written\n");
    return kExitInterrupted + interrupt_signal();
  }
}

}  // namespace attn
