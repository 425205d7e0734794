#include "src/cli/mutate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>
#include <unistd.h>

#include "kernels/mutants.hpp"
#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/suite/config.hpp"
#include "src/tools/mutate.hpp"

namespace attn {

void setup_mutate(CLI::App& app, MutateOptions& opt) {
  app.add_option("--config,-c", opt.configs, "suite files (repeatable: the suites are combined)")->required();
  app.add_option("--case", opt.cases, "only cases whose name matches this glob (repeatable)");
  app.add_option("--mutant", opt.mutants, "only these mutants (repeatable; default: all)");
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--json", opt.json, "write {score, mutants: [{name, status, killed_by}]} to this file");
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--quiet,-q", opt.quiet, "only the score line and the survivors");
  app.add_flag("--no-color", opt.no_color, "no ANSI colours (also: NO_COLOR=1)");
}

void setup_list_mutants(CLI::App&) {}

int run_list_mutants() {
  std::size_t width = 0;
  for (const MutantInfo& m : mutants()) width = std::max(width, m.name.size());
  for (const MutantInfo& m : mutants())
    std::printf("%-*s  %s%s\n", int(width), m.name.c_str(), m.description.c_str(),
                m.only_recipe.empty() ? "" : fmt::format(" [{} only]", m.only_recipe).c_str());
  return kExitPass;
}

namespace {

// The matrix: one column per case, numbered; K killed, . survived, u unsupported; then the cases
// exercising each kernel path.
void print_matrix(const KillMatrix& matrix, const std::vector<MutantOutcome>& outcomes,
                  const std::vector<std::pair<std::string, int>>& coverage,
                  const std::function<std::string(const char*, const std::string&)>& paint) {
  const std::vector<const CaseSpec*>& cases = matrix.cases;
  std::size_t width = 0;
  for (const MutantInfo* m : matrix.mutants) width = std::max(width, m->name.size());
  std::printf("cases:\n");
  for (std::size_t ci = 0; ci < cases.size(); ++ci) std::printf("  %3zu  %s\n", ci + 1, cases[ci]->name.c_str());
  std::string header(width + 2, ' ');
  for (std::size_t ci = 0; ci < cases.size(); ++ci) header += (ci + 1) % 10 == 0 ? char('0' + (ci + 1) / 10 % 10) : ' ';
  std::printf("\n%s\n", header.c_str());
  std::string units(width + 2, ' ');
  for (std::size_t ci = 0; ci < cases.size(); ++ci) units += char('0' + (ci + 1) % 10);
  std::printf("%s\n", units.c_str());
  for (std::size_t mi = 0; mi < matrix.mutants.size(); ++mi) {
    const MutantOutcome& o = outcomes[mi];
    std::printf("%-*s  %s  %s\n", int(width), o.name.c_str(), matrix.status[mi].c_str(),
                paint(o.status == "killed" ? "32" : o.status == "survived" ? "1;31" : "36", o.status).c_str());
  }
  std::printf("\ncoverage (cases exercising each kernel path):\n");
  for (const auto& [path, n] : coverage)
    std::printf("  %-24s %3d/%zu%s\n", path.c_str(), n, cases.size(), n ? "" : "   never tested");
  std::printf("\n");
}

}  // namespace

int run_mutate(const MutateOptions& opt) {
  const int threads = resolve_threads(opt.threads);
  LoadOptions load{.threads = threads};
  if (!apply_max_memory(opt.max_memory, &load)) return kExitUsage;
  std::vector<PathOption> inputs;
  for (const std::string& config : opt.configs) inputs.push_back({"--config", config});
  if (!check_output_paths(inputs, {{"--json", opt.json}})) return kExitUsage;
  std::vector<const MutantInfo*> selected;
  for (const std::string& name : opt.mutants) {
    const MutantInfo* m = lookup_mutant(name);
    if (!m) return kExitUsage;
    selected.push_back(m);
  }
  if (selected.empty())
    for (const MutantInfo& m : mutants()) selected.push_back(&m);

  std::vector<Suite> suites(opt.configs.size());
  std::vector<const CaseSpec*> cases;
  std::set<std::string> names;
  for (std::size_t s = 0; s < opt.configs.size(); ++s) {
    Diagnostics diags;
    if (!load_suite(opt.configs[s], load, &suites[s], &diags)) {
      print_diagnostics(diags);
      return kExitUsage;
    }
    for (const CaseSpec& c : suites[s].cases) {
      bool match = opt.cases.empty();
      for (const std::string& g : opt.cases) match = match || glob_match(g, c.name);
      if (!match) continue;
      if (!names.insert(c.name).second) {
        std::fprintf(stderr, "%s: case '%s': error: the name is used by another suite too; names must be unique across "
                             "the combined suites\n", opt.configs[s].c_str(), c.name.c_str());
        return kExitUsage;
      }
      cases.push_back(&c);
    }
  }
  if (cases.empty()) {
    std::fprintf(stderr, "error: no case matches --case\n");
    return kExitUsage;
  }

  const bool progress = !opt.quiet && ::isatty(STDERR_FILENO);
  const KillMatrix matrix = kill_matrix(selected, cases, threads, [&](std::size_t ci) {
    if (progress) std::fprintf(stderr, "\r[%zu/%zu] %-50s", ci + 1, cases.size(), cases[ci]->name.c_str());
  });
  if (progress) std::fprintf(stderr, "\r%*s\r", 70, "");
  const std::vector<MutantOutcome> outcomes = mutant_outcomes(matrix);
  const auto [killed, supported, score] = mutation_score(outcomes);
  const std::vector<std::pair<std::string, int>> coverage = coverage_totals(matrix);
  const bool color = use_color(opt.no_color);
  auto paint = [&](const char* code, const std::string& s) { return color ? fmt::format("\033[{}m{}\033[0m", code, s) : s; };

  if (!opt.quiet) print_matrix(matrix, outcomes, coverage, paint);
  for (const MutantOutcome& o : outcomes)
    if (o.status == "survived") std::printf("survived: %s: %s\n", o.name.c_str(), o.reason.c_str());
  std::printf("%s\n", paint(killed == supported ? "32" : "1;31",
                             fmt::format("mutation score: {}/{} killed ({:.1f}%), {} cases, {:.1f} s", killed, supported,
                                         100.0 * score, cases.size(), matrix.seconds))
                          .c_str());
  std::fflush(stdout);
  if (!opt.json.empty() && !write_json_file(opt.json, mutate_to_json(outcomes, score, coverage, int(cases.size()))))
    return kExitRuntime;
  return killed == supported ? kExitPass : kExitFail;
}

}  // namespace attn
