#include "src/cli/calibrate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <unistd.h>

#include "kernels/variants.hpp"
#include "src/base/fileio.hpp"
#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/cli/options.hpp"
#include "src/suite/recipe.hpp"
#include "src/tools/calibrate.hpp"

namespace attn {

void setup_calibrate(CLI::App& app, CalibrateOptions& opt) {
  app.add_option("--config,-c", opt.configs, "suite files (repeatable)");
  app.add_option("--grid", opt.grid,
                 "also run a generated grid of cases: 'edges' = tiny shapes at every tile edge for every recipe "
                 "(7500 cases; margins per recipe and gate, every false alarm listed)")
      ->check(CLI::IsMember({"edges"}));
  app.add_option("--case", opt.cases, "only cases whose name matches this glob (repeatable)");
  app.add_option("--recipe", opt.recipes,
                 "run every --config case with this precision recipe instead of its own, its tolerance and gates "
                 "reset to the recipe's defaults: a preset, optionally with +key=value overrides as --precision "
                 "takes (repeatable; 'all' = every built-in recipe). Cases are named CASE@RECIPE; a case the recipe "
                 "cannot compute is listed as refused")
      ->check(CLI::Validator(
          [](std::string& text) { return text == "all" ? std::string() : recipe_validator()(text); }, "RECIPE|all"));
  app.add_option("--variant", opt.variants,
                 fmt::format("legitimate variants judged next to the tiled kernel (repeatable; default every one: {}; "
                             "'none' = the tiled kernel only)",
                             fmt::join(variant_names(), ", ")))
      ->check(CLI::IsMember([] {
        std::vector<std::string> names = variant_names();
        names.push_back("none");
        return names;
      }()));
  app.add_option("--seeds", opt.seeds, "seeds 0..N-1 per case (default 1000)")->transform(integer_in(1, 1000000));
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--json", opt.json, "write the margins as JSON");
  app.add_option("--md", opt.md, "write the margins as a Markdown table");
  app.add_flag("--quiet,-q", opt.quiet, "no progress on stderr");
}

int run_calibrate(const CalibrateOptions& opt) {
  const int threads = resolve_threads(opt.threads);
  std::vector<PathOption> inputs;
  for (const std::string& config : opt.configs) inputs.push_back({"--config", config});
  if (!check_output_paths(inputs, {{"--json", opt.json}, {"--md", opt.md}})) return kExitUsage;
  if (opt.configs.empty() && opt.grid.empty()) {
    std::fprintf(stderr, "error: calibrate needs --config FILE or --grid edges\n");
    return kExitUsage;
  }
  if (!opt.recipes.empty() && opt.configs.empty()) {
    std::fprintf(stderr, "error: --recipe overrides the recipe of --config cases; the edge grid has every recipe already\n");
    return kExitUsage;
  }
  std::vector<std::string> recipes;
  for (const std::string& r : opt.recipes) {
    std::string err;
    const std::vector<std::string> add = r == "all" ? recipe_names() : std::vector<std::string>{recipe_spec(*parse_recipe_text(r, &err))};
    for (const std::string& x : add)
      if (std::find(recipes.begin(), recipes.end(), x) == recipes.end()) recipes.push_back(x);
  }
  const bool none = std::find(opt.variants.begin(), opt.variants.end(), "none") != opt.variants.end();
  if (none && opt.variants.size() > 1) {
    std::fprintf(stderr, "error: --variant none cannot be combined with named variants\n");
    return kExitUsage;
  }
  const CalibrationPlan plan{.configs = opt.configs,
                             .grid = !opt.grid.empty(),
                             .recipes = recipes,
                             .selected = [&](const std::string& name) {
                               bool match = opt.cases.empty();
                               for (const std::string& g : opt.cases) match = match || glob_match(g, name);
                               return match;
                             },
                             .seeds = opt.seeds,
                             .threads = threads};
  CalibrationJobs jobs;
  std::string err;
  if (!calibration_jobs(plan, &jobs, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (jobs.jobs.empty()) {
    std::fprintf(stderr, "error: no case matches --case\n");
    return kExitUsage;
  }

  const bool progress = !opt.quiet && ::isatty(STDERR_FILENO);
  auto show_progress = [&](const CalibrationProgress& p) {
    if (!p.job && p.done % 500 == 0)
      std::fprintf(stderr, "\r[%lld/%lld] case x seed runs   ", (long long)p.done, (long long)p.total);
    else if (p.job && p.seeds_done % 25 == 0)
      std::fprintf(stderr, "\r[%zu/%zu] %s: %d/%d seeds   ", p.job_index + 1, jobs.jobs.size(),
                   (p.job->suite + "/" + p.job->spec.name).c_str(), p.seeds_done, opt.seeds);
  };
  std::function<void(const CalibrationProgress&)> on_progress;
  if (progress) on_progress = show_progress;
  const Calibration cal = run_calibration(plan, jobs, calibration_kernels(opt.variants), on_progress);
  if (progress) std::fprintf(stderr, "\r%*s\r", 80, "");

  std::fputs(margins_table(cal).c_str(), stdout);
  std::fputs(alarms_text(cal).c_str(), stdout);
  std::fputs(calibration_summary(cal).c_str(), stdout);
  std::fputs(default_gates_text(cal).c_str(), stdout);
  if (!opt.json.empty() && !write_file_atomic(opt.json, calibration_json(cal).dump(2) + "\n", &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  if (!opt.md.empty() && !write_file_atomic(opt.md, calibration_markdown(cal), &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  return cal.false_alarms ? kExitFail : kExitPass;
}

}  // namespace attn
