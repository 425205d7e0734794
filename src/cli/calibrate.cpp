#include "src/cli/calibrate.hpp"

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

#include "kernels/variants.hpp"
#include "src/base/fileio.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"
#include "src/cli/common.hpp"
#include "src/judge/runner.hpp"
#include "src/suite/config.hpp"
#include "src/suite/recipe.hpp"

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
  app.add_option("--recipe", opt.recipes,
                 "run every --config case with this precision recipe instead of its own, its tolerance and gates "
                 "reset to the recipe's defaults (repeatable; 'all' = every built-in recipe). Cases are named "
                 "CASE@RECIPE; a case the recipe cannot compute is listed as refused")
      ->check(CLI::IsMember([] {
        std::vector<std::string> names = recipe_names();
        names.push_back("all");
        return names;
      }()));
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

namespace {

struct Worst {
  double utilisation = -1.0;
  std::uint64_t seed = 0;
  double value = 0.0, bound = 0.0;
  int evaluated = 0, failed = 0;
  std::string at_case;  // the case of the worst use
  std::string note;     // the worst use's gate note: how its bound was formed
};

// One failure of a correct implementation: a gate above its bound, or a failure no gate explains.
struct Alarm {
  std::string where;   // suite/case
  std::string kernel;  // "tiled" or "variant:<name>"
  std::uint64_t seed;
  std::string what;    // the runner's failure line
};

constexpr std::size_t kAlarmsShown = 40;

struct Job {
  std::string suite;
  CaseSpec spec;      // with an overridden recipe, the case as parsed under it
  std::string group;  // margins are kept per group: the recipe (edges/RECIPE for the grid)
};

// The config document with every case's precision set to `recipe`, and the tolerance and gates of
// the defaults and of each case dropped, so that the case runs with that recipe's defaults.
nlohmann::json with_recipe(nlohmann::json doc, const std::string& recipe) {
  auto patch = [&](nlohmann::json& o) {
    if (!o.is_object()) return;
    o.erase("tolerance");
    o.erase("gates");
    o["precision"] = recipe;
  };
  if (doc.contains("defaults")) patch(doc["defaults"]);
  if (doc.contains("cases") && doc["cases"].is_array())
    for (auto& c : doc["cases"]) patch(c);
  return doc;
}

Candidate variant_candidate(const VariantInfo& v) {
  return {.kernel = "variant:" + v.name, .is_expected = false,
          .produce = [&v](const CaseSpec& c, const Inputs& in, std::vector<double>* out, std::string*) {
            std::vector<float> f(c.problem.shape.q_elements());
            poison(f);
            v.run(c.problem, in, c.recipe, c.tiles, f, 1);
            out->assign(f.begin(), f.end());
            return true;
          },
          .unsupported = [&v](const CaseSpec& c) { return variant_unsupported(v, c.recipe); }};
}

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
    const std::vector<std::string> add = r == "all" ? recipe_names() : std::vector<std::string>{r};
    for (const std::string& x : add)
      if (std::find(recipes.begin(), recipes.end(), x) == recipes.end()) recipes.push_back(x);
  }
  // The kernels judged: the tiled kernel, then the variants asked for (default every one).
  std::vector<Candidate> kernels = {tiled_candidate(1)};
  const bool none = std::find(opt.variants.begin(), opt.variants.end(), "none") != opt.variants.end();
  if (none && opt.variants.size() > 1) {
    std::fprintf(stderr, "error: --variant none cannot be combined with named variants\n");
    return kExitUsage;
  }
  if (!none)
    for (const VariantInfo& v : variants())
      if (opt.variants.empty() || std::find(opt.variants.begin(), opt.variants.end(), v.name) != opt.variants.end())
        kernels.push_back(variant_candidate(v));

  const bool grid = !opt.grid.empty();
  std::vector<Job> jobs;
  std::vector<std::string> refused;  // (case, recipe) pairs a recipe cannot compute
  auto matches = [&](const std::string& name) {
    bool match = opt.cases.empty();
    for (const std::string& g : opt.cases) match = match || glob_match(g, name);
    return match;
  };
  for (std::size_t s = 0; s <= opt.configs.size(); ++s) {
    if (s == opt.configs.size() && !grid) break;
    Suite suite;
    Diagnostics diags;
    const bool loaded = s < opt.configs.size()
                            ? load_suite(opt.configs[s], {.threads = 1}, &suite, &diags)
                            : parse_suite(edge_grid_suite(), "--grid edges", {.threads = 1}, &suite, &diags);
    if (!loaded) {
      print_diagnostics(diags);
      return kExitUsage;
    }
    if (s == opt.configs.size() || recipes.empty()) {
      for (const CaseSpec& c : suite.cases)
        if (matches(c.name)) jobs.push_back({suite.name, c, s == opt.configs.size() ? "edges/" + c.recipe.name : c.recipe.name});
      continue;
    }
    // --recipe: each case parsed again under each recipe, one at a time, so that a case the recipe
    // cannot compute (src/suite/numeric_limits_check.hpp) is listed and the others still run.
    std::string text, why;
    if (!read_text_file(opt.configs[s], &text, &why)) {
      std::fprintf(stderr, "%s\n", why.c_str());
      return kExitUsage;
    }
    const nlohmann::json doc = nlohmann::json::parse(text);  // load_suite has accepted it
    for (const std::string& recipe : recipes) {
      const nlohmann::json patched = with_recipe(doc, recipe);
      for (std::size_t i = 0; i < patched["cases"].size(); ++i) {
        nlohmann::json one = patched;
        one["cases"] = nlohmann::json::array({patched["cases"][i]});
        const std::string name = suite.cases[i].name;
        if (!matches(name) && !matches(name + "@" + recipe)) continue;
        Suite single;
        Diagnostics d;
        if (!parse_suite(one, opt.configs[s], {.threads = 1}, &single, &d) || single.cases.size() != 1) {
          refused.push_back(fmt::format("{}/{}@{}: {}", suite.name, name, recipe, d.empty() ? "refused" : d.front().message));
          continue;
        }
        single.cases[0].name = name + "@" + recipe;
        jobs.push_back({suite.name, std::move(single.cases[0]), recipe});
      }
    }
  }
  if (jobs.empty()) {
    std::fprintf(stderr, "error: no case matches --case\n");
    return kExitUsage;
  }

  // Margins per (group, kernel, gate) and per (case, kernel, gate), in first-seen order.
  using Key = std::tuple<std::string, std::string, std::string>;
  std::vector<Key> order, case_order;
  std::map<Key, Worst> worst, per_case;
  std::map<Key, std::string> null_notes;
  std::map<std::string, int> alarms_by_kernel;
  std::mutex mu;
  const bool progress = !opt.quiet && ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  std::vector<Alarm> alarms;
  std::atomic<std::size_t> cases_done{0};
  auto record = [&](std::map<Key, Worst>& m, std::vector<Key>& ord, const Key& k, const GateResult& g,
                    const std::string& where, std::uint64_t seed) {
    if (!m.count(k)) ord.push_back(k), m[k] = {};
    Worst& w = m[k];
    if (!g.value) {  // skipped, or failed without a value (a constant output): the note says which
      null_notes[k] = g.note;
      if (!g.pass) ++w.failed, w.at_case = where, w.seed = seed;
      return;
    }
    ++w.evaluated;
    w.failed += !g.pass;
    const double u = gate_utilisation(*g.value, g.bound, find_gate_kind(g.name)->lower);
    if (u > w.utilisation || (u == w.utilisation && (seed < w.seed || (seed == w.seed && where < w.at_case))))
      w = {u, seed, *g.value, g.bound, w.evaluated, w.failed, where, g.note};
  };
  auto run_one = [&](const Job& job, std::uint64_t seed) {
    const std::string where = job.suite + "/" + job.spec.name;
    CaseSpec c = job.spec;
    c.seed = seed;
    PreparedCase p = prepare_case(c, 1);  // inputs, golden and naive once for every kernel
    for (const Candidate& cand : kernels) {
      const std::string why = unsupported_reason(c, cand);
      CaseResult r = why.empty() ? judge(p, cand, {.threads = 1, .worst = 0, .breakdown = false})
                                 : unsupported_result(c, cand, why);
      std::lock_guard lock(mu);
      if (r.verdict == Verdict::unsupported) {
        const Key k{job.group, cand.kernel, "unsupported"};
        if (!worst.count(k)) order.push_back(k), worst[k] = {};
        null_notes[k] = r.error;
        continue;
      }
      bool gate_failed = false;
      for (const GateResult& g : r.gates) {
        record(worst, order, {job.group, cand.kernel, g.name}, g, where, seed);
        if (!job.group.starts_with("edges/"))  // the grid's 7500 cases: per recipe only
          record(per_case, case_order, {where, cand.kernel, g.name}, g, where, seed);
        gate_failed |= !g.pass;
      }
      // A failure no gate accounts for (non-finite values, an error) counts too.
      if (r.verdict != Verdict::pass) {
        if (!gate_failed) {
          const Key k{job.group, cand.kernel, "verdict"};
          if (!worst.count(k)) order.push_back(k), worst[k] = {};
          ++worst[k].failed;
        }
        ++alarms_by_kernel[cand.kernel];
        alarms.push_back({where, cand.kernel, seed,
                          r.failures.empty() ? r.error : fmt::format("{}", fmt::join(r.failures, "; "))});
      }
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
          std::fprintf(stderr, "\r[%zu/%zu] %s: %d/%d seeds   ", j + 1, jobs.size(), (job.suite + "/" + job.spec.name).c_str(),
                       done.load(), opt.seeds);
      });
    }
  }
  // Parallel runs finish in any order: sort what is printed so that it is the same every run.
  std::sort(alarms.begin(), alarms.end(), [](const Alarm& a, const Alarm& b) {
    return std::tie(a.where, a.kernel, a.seed) < std::tie(b.where, b.kernel, b.seed);
  });
  if (progress) std::fprintf(stderr, "\r%*s\r", 80, "");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int false_alarms = 0;
  double worst_all = 0.0;
  auto rows = [&](const std::vector<Key>& ord, std::map<Key, Worst>& m, bool count, std::string* table,
                  std::string* md) {
    nlohmann::json out = nlohmann::json::array();
    for (const Key& k : ord) {
      const auto& [group, kernel, gate] = k;
      const Worst& w = m[k];
      if (count) false_alarms += w.failed;
      nlohmann::json row = {{"case", group}, {"kernel", kernel}, {"gate", gate}};
      if (gate == "unsupported") {
        if (table) *table += fmt::format("{:<44} {:<22} unsupported: {}\n", group, kernel, null_notes[k]);
        if (md) *md += fmt::format("| {} | {} | unsupported | {} | | | | | |\n", group, kernel, null_notes[k]);
        row["unsupported"] = null_notes[k];
        out.push_back(std::move(row));
        continue;
      }
      if (gate == "verdict") {  // failures that no gate explains
        if (table) *table += fmt::format("{:<44} {:<22} {:<20} FAILED x{} (no gate: see the list below)\n", group, kernel, gate, w.failed);
        if (md) *md += fmt::format("| {} | {} | {} | failed without a gate | | | | | {} |\n", group, kernel, gate, w.failed);
        row["failed"] = w.failed;
        out.push_back(std::move(row));
        continue;
      }
      if (w.evaluated == 0 && w.failed) {  // failed without a value every time it ran
        if (table) *table += fmt::format("{:<44} {:<22} {:<20} FAILED x{}: {}  ({} seed {})\n", group, kernel, gate, w.failed,
                                         null_notes[k], w.at_case, w.seed);
        if (md) *md += fmt::format("| {} | {} | {} | {} | {} | | | {} | {} |\n", group, kernel, gate, null_notes[k], w.seed,
                                   w.failed, w.at_case);
        row.update({{"failed", w.failed}, {"note", null_notes[k]}, {"at_case", w.at_case}, {"seed", w.seed}});
        out.push_back(std::move(row));
        continue;
      }
      if (w.evaluated == 0) {  // the gate's own note says why ("skipped: ..."); say it once
        const std::string& note = null_notes[k];
        const std::string why = note.starts_with("skipped: ") ? note : "skipped: " + note;
        if (table) *table += fmt::format("{:<44} {:<22} {:<20} {}\n", group, kernel, gate, why);
        if (md) *md += fmt::format("| {} | {} | {} | {} | | | | | |\n", group, kernel, gate, why);
        continue;
      }
      if (count) worst_all = std::max(worst_all, w.utilisation);
      if (table)
        *table += fmt::format("{:<44} {:<22} {:<20} {:>7.3f}  seed {:<5} value {:<11.4g} bound {:<11.4g}{}  ({})\n", group,
                              kernel, gate, w.utilisation, w.seed, w.value, w.bound,
                              w.failed ? fmt::format("  FAILED x{}", w.failed) : "", w.at_case);
      if (md)
        *md += fmt::format("| {} | {} | {} | {:.3f} | {} | {:.4g} | {:.4g} | {} | {} |\n", group, kernel, gate,
                           w.utilisation, w.seed, w.value, w.bound, w.failed, w.at_case);
      row.update({{"utilisation", w.utilisation}, {"seed", w.seed}, {"value", w.value}, {"bound", w.bound},
                  {"evaluated", w.evaluated}, {"failed", w.failed}, {"at_case", w.at_case}, {"note", w.note}});
      out.push_back(std::move(row));
    }
    return out;
  };
  std::string table;
  std::string md =
      "| recipe | kernel | gate | worst use of the bound | at seed | value | bound | failures | worst case |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  const nlohmann::json margins = rows(order, worst, true, &table, &md);
  const nlohmann::json case_margins = rows(case_order, per_case, false, nullptr, nullptr);
  std::string alarm_lines;
  for (std::size_t a = 0; a < alarms.size() && a < kAlarmsShown; ++a)
    alarm_lines += fmt::format("false alarm: {} [{}] seed {}: {}\n", alarms[a].where, alarms[a].kernel, alarms[a].seed,
                               alarms[a].what);
  if (alarms.size() > kAlarmsShown)
    alarm_lines += fmt::format("... and {} more false alarms (all in --json)\n", alarms.size() - kAlarmsShown);
  for (const std::string& r : refused) alarm_lines += fmt::format("refused: {}\n", r);
  nlohmann::json alarm_json = nlohmann::json::array();
  for (const Alarm& a : alarms)
    alarm_json.push_back({{"case", a.where}, {"kernel", a.kernel}, {"seed", a.seed}, {"failure", a.what}});
  std::string by_kernel;
  for (const Candidate& k : kernels)
    by_kernel += fmt::format("{}{} {}", by_kernel.empty() ? "" : ", ", k.kernel, alarms_by_kernel[k.kernel]);
  const std::string summary = fmt::format(
      "calibration: {} cases x {} seeds x {} kernels, worst use of a bound {:.3f}, {} false alarms ({:.1f} s)\n"
      "failing runs per kernel: {}\n",
      jobs.size(), opt.seeds, kernels.size(), worst_all, false_alarms, seconds, by_kernel);
  std::fputs(table.c_str(), stdout);
  std::fputs(alarm_lines.c_str(), stdout);
  std::fputs(summary.c_str(), stdout);
  std::string err;
  nlohmann::json kernel_names = nlohmann::json::array();
  for (const Candidate& k : kernels) kernel_names.push_back(k.kernel);
  if (!opt.json.empty() &&
      !write_file_atomic(opt.json, nlohmann::json{{"seeds", opt.seeds}, {"kernels", kernel_names},
                                                 {"recipes", recipes}, {"false_alarms", false_alarms},
                                                 {"worst_utilisation", worst_all}, {"seconds", seconds},
                                                 {"margins", margins}, {"case_margins", case_margins},
                                                 {"alarms", alarm_json}, {"refused", refused}}.dump(2) + "\n", &err)) {
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
