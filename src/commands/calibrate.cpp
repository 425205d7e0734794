#include "src/commands/calibrate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <unistd.h>

#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/parallel.hpp"
#include "src/fileio.hpp"
#include "src/runner.hpp"

namespace attn {

double gate_utilisation(double value, double bound, bool lower) {
  if (lower) return bound >= 1.0 ? (value >= 1.0 ? 0.0 : HUGE_VAL) : (1.0 - value) / (1.0 - bound);
  return bound > 0.0 ? value / bound : (value > 0.0 ? HUGE_VAL : 0.0);
}

void setup_calibrate(CLI::App& app, CalibrateOptions& opt) {
  app.add_option("--config,-c", opt.configs, "suite files (repeatable)")->required();
  app.add_option("--case", opt.cases, "only cases whose name matches this glob (repeatable)");
  app.add_option("--seeds", opt.seeds, "seeds 0..N-1 per case (default 1000)")->transform(integer_in(1, 1000000));
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--json", opt.json, "write the margins as JSON");
  app.add_option("--md", opt.md, "write the margins as a Markdown table");
  app.add_flag("--quiet,-q", opt.quiet, "no progress on stderr");
}

namespace {

struct Worst {
  double utilisation = -1.0;
  std::uint64_t seed = 0;
  double value = 0.0, bound = 0.0;
  int evaluated = 0, failed = 0;
};

}  // namespace

int run_calibrate(const CalibrateOptions& opt) {
  const int threads = resolve_threads(opt.threads);
  struct Job {
    std::string suite;
    const CaseSpec* spec;
  };
  std::vector<Suite> suites(opt.configs.size());
  std::vector<Job> jobs;
  for (std::size_t s = 0; s < opt.configs.size(); ++s) {
    Diagnostics diags;
    if (!load_suite(opt.configs[s], {.threads = 1}, &suites[s], &diags)) {
      print_diagnostics(diags);
      return kExitUsage;
    }
    for (const CaseSpec& c : suites[s].cases) {
      bool match = opt.cases.empty();
      for (const std::string& g : opt.cases) match = match || glob_match(g, c.name);
      if (match) jobs.push_back({suites[s].name, &c});
    }
  }
  if (jobs.empty()) {
    std::fprintf(stderr, "error: no case matches --case\n");
    return kExitUsage;
  }

  // key: (suite, case, gate) in run order
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, Worst> worst;
  std::map<std::pair<std::string, std::string>, std::string> null_notes;
  std::mutex mu;
  const bool progress = !opt.quiet && ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    const std::string key = job.suite + "/" + job.spec->name;
    std::atomic<int> done{0};
    // Seeds run in parallel, each case single-threaded: small cases gain more that way.
    parallel_for(opt.seeds, threads, [&](std::int64_t seed) {
      CaseSpec c = *job.spec;
      c.seed = std::uint64_t(seed);
      const CaseResult r = run_case(c, tiled_candidate(1), {.threads = 1, .worst = 0, .breakdown = false});
      std::lock_guard lock(mu);
      for (const GateResult& g : r.gates) {
        const auto k = std::make_pair(key, g.name);
        if (!worst.count(k)) order.push_back(k), worst[k] = {};
        Worst& w = worst[k];
        if (!g.value) {
          null_notes[k] = g.note;
          continue;
        }
        ++w.evaluated;
        w.failed += !g.pass;
        const double u = gate_utilisation(*g.value, g.bound, find_gate_kind(g.name)->lower);
        if (u > w.utilisation || (u == w.utilisation && std::uint64_t(seed) < w.seed))
          w = {u, std::uint64_t(seed), *g.value, g.bound, w.evaluated, w.failed};
      }
      if (progress && (++done % 25 == 0))
        std::fprintf(stderr, "\r[%zu/%zu] %s: %d/%d seeds   ", j + 1, jobs.size(), key.c_str(), done.load(), opt.seeds);
    });
  }
  if (progress) std::fprintf(stderr, "\r%*s\r", 80, "");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int false_alarms = 0;
  double worst_all = 0.0;
  nlohmann::json out = nlohmann::json::array();
  std::string md = fmt::format(
      "| case | gate | worst use of the bound | at seed | value | bound | failures |\n|---|---|---|---|---|---|---|\n");
  std::string table;
  for (const auto& k : order) {
    const Worst& w = worst[k];
    false_alarms += w.failed;
    if (w.evaluated == 0) {  // the gate's own note says why ("skipped: ..."); say it once
      const std::string& note = null_notes[k];
      const std::string why = note.starts_with("skipped: ") ? note : "skipped: " + note;
      table += fmt::format("{:<48} {:<20} {}\n", k.first, k.second, why);
      md += fmt::format("| {} | {} | {} | | | | |\n", k.first, k.second, why);
      continue;
    }
    worst_all = std::max(worst_all, w.utilisation);
    table += fmt::format("{:<48} {:<20} {:>7.3f}  seed {:<5} value {:<11.4g} bound {:<11.4g}{}\n", k.first, k.second,
                         w.utilisation, w.seed, w.value, w.bound, w.failed ? fmt::format("  FAILED x{}", w.failed) : "");
    md += fmt::format("| {} | {} | {:.3f} | {} | {:.4g} | {:.4g} | {} |\n", k.first, k.second, w.utilisation, w.seed,
                      w.value, w.bound, w.failed);
    out.push_back({{"case", k.first}, {"gate", k.second}, {"utilisation", w.utilisation}, {"seed", w.seed},
                   {"value", w.value}, {"bound", w.bound}, {"evaluated", w.evaluated}, {"failed", w.failed}});
  }
  const std::string summary =
      fmt::format("calibration: {} cases x {} seeds, worst use of a bound {:.3f}, {} false alarms ({:.1f} s)\n",
                  jobs.size(), opt.seeds, worst_all, false_alarms, seconds);
  std::fputs(table.c_str(), stdout);
  std::fputs(summary.c_str(), stdout);
  std::string err;
  if (!opt.json.empty() &&
      !write_file_atomic(opt.json, nlohmann::json{{"seeds", opt.seeds}, {"false_alarms", false_alarms},
                                                 {"worst_utilisation", worst_all}, {"margins", out}}.dump(2) + "\n", &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (!opt.md.empty() && !write_file_atomic(opt.md, md + "\n" + summary, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  return false_alarms ? kExitFail : kExitPass;
}

}  // namespace attn
