#include "src/commands/calibrate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <unistd.h>

#include "src/commands/common.hpp"
#include "src/recipe.hpp"
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
  app.add_option("--config,-c", opt.configs, "suite files (repeatable)");
  app.add_option("--grid", opt.grid,
                 "also run a generated grid of cases: 'edges' = tiny shapes at every tile edge for every recipe "
                 "(7500 cases; margins per recipe and gate, every false alarm listed)")
      ->check(CLI::IsMember({"edges"}));
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
  std::string at_case;  // grid: the case of the worst use (its key names only the recipe)
};

// One failure of the correct kernel: a gate above its bound, or a failure no gate explains.
struct Alarm {
  std::string where;  // suite/case
  std::uint64_t seed;
  std::string what;   // the runner's failure line
};

constexpr std::size_t kAlarmsShown = 40;

}  // namespace

nlohmann::json edge_grid_suite() {
  using nlohmann::json;
  struct Mask {
    const char* name;
    bool causal;
    int window;
  };
  const Mask masks[] = {{"causal", true, 0}, {"causal_w1", true, 1}, {"causal_w16", true, 16}, {"w3", false, 3},
                        {"full", false, 0}};
  const int sizes[] = {1, 3, 4, 5, 9};
  const int heads[][2] = {{1, 1}, {2, 1}, {4, 2}};
  json cases = json::array();
  for (const std::string& recipe : recipe_names())
    for (int sq : sizes)
      for (int sk : sizes)
        for (const auto& hg : heads)
          for (const Mask& m : masks)
            for (bool sinks : {false, true})
              for (int d : {8, 33}) {
                json c = {{"name", fmt::format("{}/sq{}_sk{}_h{}-{}_{}_{}_d{}", recipe, sq, sk, hg[0], hg[1], m.name,
                                               sinks ? "sinks" : "nosinks", d)},
                          {"precision", recipe}, {"tokens", sq}, {"kv_tokens", sk}, {"heads", hg[0]},
                          {"kv_heads", hg[1]}, {"head_dim", d}, {"causal", m.causal}, {"window", m.window}};
                if (sinks) c["sinks"] = {{"dist", "normal"}, {"std", 1.0}};
                cases.push_back(std::move(c));
              }
  return {{"suite", "edges"},
          {"description", "attn-diff calibrate --grid edges: tiny shapes at every tile edge, every recipe"},
          {"defaults", {{"batch", 1}, {"tiles", {{"q", 4}, {"kv", 4}}}, {"inputs", {{"dist", "normal"}, {"std", 1.0}}}}},
          {"cases", std::move(cases)}};
}

int run_calibrate(const CalibrateOptions& opt) {
  const int threads = resolve_threads(opt.threads);
  std::vector<PathOption> inputs;
  for (const std::string& config : opt.configs) inputs.push_back({"--config", config});
  if (!check_output_paths(inputs, {{"--json", opt.json}, {"--md", opt.md}})) return kExitUsage;
  struct Job {
    std::string suite;
    const CaseSpec* spec;
  };
  if (opt.configs.empty() && opt.grid.empty()) {
    std::fprintf(stderr, "error: calibrate needs --config FILE or --grid edges\n");
    return kExitUsage;
  }
  const bool grid = !opt.grid.empty();
  std::vector<Suite> suites(opt.configs.size() + (grid ? 1 : 0));
  std::vector<Job> jobs;
  for (std::size_t s = 0; s < suites.size(); ++s) {
    Diagnostics diags;
    const bool loaded = s < opt.configs.size()
                            ? load_suite(opt.configs[s], {.threads = 1}, &suites[s], &diags)
                            : parse_suite(edge_grid_suite(), "--grid edges", {.threads = 1}, &suites[s], &diags);
    if (!loaded) {
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
  std::vector<Alarm> alarms;
  std::atomic<std::size_t> cases_done{0};
  auto run_one = [&](const Job& job, std::uint64_t seed) {
    const std::string where = job.suite + "/" + job.spec->name;
    // Grid cases are many and alike: their margins are kept per recipe (the name's first part).
    const std::string key = job.suite == "edges" ? job.suite + "/" + job.spec->recipe.name : where;
    CaseSpec c = *job.spec;
    c.seed = seed;
    const CaseResult r = run_case(c, tiled_candidate(1), {.threads = 1, .worst = 0, .breakdown = false});
    std::lock_guard lock(mu);
    bool gate_failed = false;
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
      gate_failed |= !g.pass;
      const double u = gate_utilisation(*g.value, g.bound, find_gate_kind(g.name)->lower);
      if (u > w.utilisation || (u == w.utilisation && (seed < w.seed || (seed == w.seed && where < w.at_case))))
        w = {u, seed, *g.value, g.bound, w.evaluated, w.failed, where};
    }
    // A failure of the correct kernel no gate accounts for (non-finite values, an error) counts too.
    if (r.verdict != Verdict::pass) {
      if (!gate_failed) {
        const auto k = std::make_pair(key, std::string("verdict"));
        if (!worst.count(k)) order.push_back(k), worst[k] = {};
        ++worst[k].failed;
      }
      alarms.push_back({where, seed, r.failures.empty() ? r.error : fmt::format("{}", fmt::join(r.failures, "; "))});
    }
  };
  if (grid) {
    // Thousands of tiny cases: parallel over (case, seed) pairs, in a fixed order of results.
    const std::int64_t total = std::int64_t(jobs.size()) * opt.seeds;
    parallel_for(total, threads, [&](std::int64_t t) {
      run_one(jobs[std::size_t(t / opt.seeds)], std::uint64_t(t % opt.seeds));
      const std::size_t n = ++cases_done;
      if (progress && n % 500 == 0) std::fprintf(stderr, "\r[%zu/%lld] case x seed runs   ", n, (long long)total);
    });
  } else {
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      const Job& job = jobs[j];
      std::atomic<int> done{0};
      // Seeds run in parallel, each case single-threaded: small cases gain more that way.
      parallel_for(opt.seeds, threads, [&](std::int64_t seed) {
        run_one(job, std::uint64_t(seed));
        if (progress && (++done % 25 == 0))
          std::fprintf(stderr, "\r[%zu/%zu] %s: %d/%d seeds   ", j + 1, jobs.size(), (job.suite + "/" + job.spec->name).c_str(),
                       done.load(), opt.seeds);
      });
    }
  }
  // Parallel runs finish in any order: sort what is printed so that it is the same every run.
  std::sort(alarms.begin(), alarms.end(),
            [](const Alarm& a, const Alarm& b) { return std::tie(a.where, a.seed) < std::tie(b.where, b.seed); });
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
    if (k.second == "verdict") {  // failures of the correct kernel that no gate explains
      table += fmt::format("{:<48} {:<20} FAILED x{} (no gate: see the list below)\n", k.first, k.second, w.failed);
      md += fmt::format("| {} | {} | failed without a gate | | | | {} |\n", k.first, k.second, w.failed);
      out.push_back({{"case", k.first}, {"gate", k.second}, {"failed", w.failed}});
      continue;
    }
    if (w.evaluated == 0) {  // the gate's own note says why ("skipped: ..."); say it once
      const std::string& note = null_notes[k];
      const std::string why = note.starts_with("skipped: ") ? note : "skipped: " + note;
      table += fmt::format("{:<48} {:<20} {}\n", k.first, k.second, why);
      md += fmt::format("| {} | {} | {} | | | | |\n", k.first, k.second, why);
      continue;
    }
    worst_all = std::max(worst_all, w.utilisation);
    const bool per_recipe = w.at_case != k.first;  // a grid row: say which case the worst use is
    const std::string at = per_recipe ? fmt::format(" ({})", w.at_case) : "";
    table += fmt::format("{:<48} {:<20} {:>7.3f}  seed {:<5} value {:<11.4g} bound {:<11.4g}{}{}\n", k.first, k.second,
                         w.utilisation, w.seed, w.value, w.bound, w.failed ? fmt::format("  FAILED x{}", w.failed) : "", at);
    md += fmt::format("| {} | {} | {:.3f} | {}{} | {:.4g} | {:.4g} | {} |\n", k.first, k.second, w.utilisation, w.seed,
                      at, w.value, w.bound, w.failed);
    nlohmann::json row = {{"case", k.first}, {"gate", k.second}, {"utilisation", w.utilisation}, {"seed", w.seed},
                          {"value", w.value}, {"bound", w.bound}, {"evaluated", w.evaluated}, {"failed", w.failed}};
    if (per_recipe) row["at_case"] = w.at_case;
    out.push_back(std::move(row));
  }
  std::string alarm_lines;
  for (std::size_t a = 0; a < alarms.size() && a < kAlarmsShown; ++a)
    alarm_lines += fmt::format("false alarm: {} seed {}: {}\n", alarms[a].where, alarms[a].seed, alarms[a].what);
  if (alarms.size() > kAlarmsShown)
    alarm_lines += fmt::format("... and {} more false alarms (all in --json)\n", alarms.size() - kAlarmsShown);
  nlohmann::json alarm_json = nlohmann::json::array();
  for (const Alarm& a : alarms) alarm_json.push_back({{"case", a.where}, {"seed", a.seed}, {"failure", a.what}});
  const std::string summary =
      fmt::format("calibration: {} cases x {} seeds, worst use of a bound {:.3f}, {} false alarms ({:.1f} s)\n",
                  jobs.size(), opt.seeds, worst_all, false_alarms, seconds);
  std::fputs(table.c_str(), stdout);
  std::fputs(alarm_lines.c_str(), stdout);
  std::fputs(summary.c_str(), stdout);
  std::string err;
  if (!opt.json.empty() &&
      !write_file_atomic(opt.json, nlohmann::json{{"seeds", opt.seeds}, {"false_alarms", false_alarms},
                                                 {"worst_utilisation", worst_all}, {"margins", out},
                                                 {"alarms", alarm_json}}.dump(2) + "\n", &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  if (!opt.md.empty() && !write_file_atomic(opt.md, md + "\n" + alarm_lines + summary, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitRuntime;
  }
  return false_alarms ? kExitFail : kExitPass;
}

}  // namespace attn
