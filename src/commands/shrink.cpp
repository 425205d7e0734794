#include "src/commands/shrink.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "kernels/mutants.hpp"
#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/external.hpp"
#include "src/fileio.hpp"
#include "src/parallel.hpp"
#include "src/report_table.hpp"
#include "src/shrink.hpp"

namespace attn {

void setup_shrink(CLI::App& app, ShrinkCommandOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file holding the failing case")->required();
  app.add_option("--case", opt.case_name, "the failing case (its name, or a glob matching exactly one case)")->required();
  app.add_option("--mutant", opt.mutant, "the candidate: this mutant of the tiled kernel (see list-mutants)");
  app.add_option("--candidate-cmd", opt.candidate_cmd,
                 "or an external kernel: a shell command with {inputs} {out} {case}, as in run");
  app.add_option("--timeout", opt.timeout, "seconds per external command run (default 300); a timeout counts as "
                                           "not reproducing")->check(CLI::PositiveNumber);
  app.add_option("--out,-o", opt.out, "write the minimal case's config here (default: stdout)");
  app.add_option("--dump", opt.dump, "write the minimal case's case.json (fully resolved) into this folder");
  app.add_option("--max-runs", opt.max_runs, "stop after this many candidate runs (default 2000)")->check(CLI::PositiveNumber);
  app.add_option("--max-seconds", opt.max_seconds,
                 "stop reducing after this many seconds, not counting the original case's run (default 30)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)");
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line on stderr");
}

int run_shrink(const ShrinkCommandOptions& opt) {
  if (opt.mutant.empty() == opt.candidate_cmd.empty()) {
    std::fprintf(stderr, "error: shrink needs exactly one candidate to shrink the failure of: --mutant NAME or "
                         "--candidate-cmd CMD\nnote: attn-diff list-mutants prints the mutants\n");
    return kExitUsage;
  }
  if (!opt.candidate_cmd.empty())
    return run_shrink_with(opt, external_candidate({.command = opt.candidate_cmd, .timeout_s = opt.timeout}));
  const MutantInfo* m = lookup_mutant(opt.mutant);
  if (!m) return kExitUsage;
  return run_shrink_with(opt, mutant_candidate(*m, resolve_threads(opt.threads)));
}

namespace {

// The minimal case under its own name, with the candidate, the gate and where it came from in its
// tags, so a regression test can replay it with the same candidate and check the same gate.
CaseSpec named_minimal(const ShrinkResult& r, const CaseSpec& original, const Candidate& cand) {
  CaseSpec c = r.minimal;
  c.name = original.name + "_min";
  c.tags = {cand.kernel, "gate:" + r.reason.gate, "shrunk-from:" + original.name};
  return c;
}

nlohmann::ordered_json shrunk_suite(const CaseSpec& minimal, const ShrinkResult& r, const CaseSpec& original,
                                    const std::string& config, const Candidate& cand) {
  const std::string description =
      fmt::format("attn-diff shrink of case '{}' ({}) in {} with {}: fails gate {} as the original does", original.name,
                  shape_label(original.problem.shape), config, cand.kernel, r.reason.gate);
  return {{"suite", "shrunk"}, {"description", description}, {"cases", {compact_case_json(minimal)}}};
}

}  // namespace

int run_shrink_with(const ShrinkCommandOptions& opt, const Candidate& cand) {
  const int threads = resolve_threads(opt.threads);
  LoadOptions load{.threads = threads};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  const CaseSpec* original = find_one_case(suite, opt.config, opt.case_name, "shrink");
  if (!original) return kExitUsage;

  const bool log = !opt.quiet;
  const bool progress = log && ::isatty(STDERR_FILENO);
  auto clear_progress = [&] {
    if (progress) std::fprintf(stderr, "\r\033[K");
  };
  if (log)
    std::fprintf(stderr, "shrink: case '%s' (%s %s) with %s: running the original case\n", original->name.c_str(),
                 shape_label(original->problem.shape).c_str(), features_label(*original).c_str(), cand.kernel.c_str());

  ShrinkOptions so{.threads = threads, .max_runs = opt.max_runs, .max_seconds = opt.max_seconds};
  if (log)
    so.on_verified = [&](const ShrinkResult& r) {
      std::string also;
      for (const std::string& g : r.reason.failing)
        if (g != r.reason.gate) also += (also.empty() ? "" : ", ") + g;
      std::fprintf(stderr, "original: fails gate %s%s (%.1f s)\n", r.reason.gate.c_str(),
                   also.empty() ? "" : fmt::format(" (also {})", also).c_str(), r.verify_seconds);
      if (!r.reference_guard)
        std::fprintf(stderr, "note: the correct tiled kernel fails the original too, so smaller cases are not checked "
                             "against it\n");
      std::fprintf(stderr, "step  pass       runs  seconds  change\n");
    };
  std::size_t step_no = 0;
  if (log)
    so.on_step = [&](const ShrinkStep& s) {
      clear_progress();
      std::fprintf(stderr, "%4zu  %-9s  %4d  %7.2f  %s\n", ++step_no, s.pass.c_str(), s.runs, s.seconds, s.change.c_str());
    };
  double last_progress = -1.0;
  if (progress)
    so.on_progress = [&](const ShrinkProgress& p) {
      if (p.seconds - last_progress < 0.1) return;  // ten updates a second are enough to read
      last_progress = p.seconds;
      std::fprintf(stderr, "\r\033[K  [%d runs, %.1f s] %s: %s %s", p.runs, p.seconds, p.pass,
                   shape_label(p.trying->problem.shape).c_str(), features_label(*p.trying).c_str());
      std::fflush(stderr);
    };

  const ShrinkResult r = shrink_case(*original, cand, so);
  clear_progress();
  switch (r.status) {
    case ShrinkResult::Status::unsupported:
      std::fprintf(stderr, "%s: case '%s': error: %s cannot run this case: %s\n", opt.config.c_str(),
                   original->name.c_str(), cand.kernel.c_str(), r.message.c_str());
      return kExitUsage;
    case ShrinkResult::Status::candidate_error:
      std::fprintf(stderr, "%s: case '%s': error: %s failed to run on the original case: %s\n", opt.config.c_str(),
                   original->name.c_str(), cand.kernel.c_str(), r.message.c_str());
      return kExitRuntime;
    case ShrinkResult::Status::not_failing:
      std::fprintf(stderr, "%s: case '%s': %s passes it (%.1f s): nothing to shrink\n", opt.config.c_str(),
                   original->name.c_str(), cand.kernel.c_str(), r.verify_seconds);
      return kExitPass;
    case ShrinkResult::Status::shrunk: break;
  }

  std::string rejected;
  for (const auto& [outcome, n] : r.outcomes)
    if (outcome != Repro::same_failure) rejected += fmt::format("{}{} {}", rejected.empty() ? "" : ", ", n, repro_name(outcome));
  std::fprintf(stderr, "shrunk %s to %s %s in %.1f s after %.1f s on the original: %d runs, %zu steps (%s); stopped at %s%s\n",
               shape_label(original->problem.shape).c_str(), shape_label(r.minimal.problem.shape).c_str(),
               features_label(r.minimal).c_str(), r.shrink_seconds, r.verify_seconds, r.runs, r.steps.size(),
               rejected.empty() ? "nothing rejected" : rejected.c_str(), r.stopped.c_str(),
               r.over_budget ? fmt::format(", {} proposals skipped as too slow for the time left", r.over_budget).c_str() : "");
  for (const std::string& e : r.candidate_errors) std::fprintf(stderr, "note: candidate error (counted as not reproducing): %s\n", e.c_str());

  const CaseSpec minimal = named_minimal(r, *original, cand);
  const std::string text = shrunk_suite(minimal, r, *original, opt.config, cand).dump(2) + "\n";
  std::string err;
  if (opt.out.empty()) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  } else if (!write_file_atomic(opt.out, text, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (!opt.dump.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.dump, ec);
    const std::string path = (std::filesystem::path(opt.dump) / "case.json").string();
    if (ec || !write_file_atomic(path, minimal.to_json().dump(2) + "\n", &err)) {
      std::fprintf(stderr, "%s\n", ec ? fmt::format("{}: error: cannot create the folder: {}", opt.dump, ec.message()).c_str() : err.c_str());
      return kExitUsage;
    }
    if (log) std::fprintf(stderr, "wrote %s\n", path.c_str());
  }
  return kExitFail;
}

}  // namespace attn
