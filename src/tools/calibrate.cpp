#include "src/tools/calibrate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>

#include "kernels/variants.hpp"
#include "src/base/fileio.hpp"
#include "src/base/parallel.hpp"
#include "src/base/poison.hpp"
#include "src/suite/config.hpp"
#include "src/suite/gate_spec.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

namespace {

using Key = Calibration::Key;

constexpr std::size_t kAlarmsShown = 40;

Candidate variant_candidate(const VariantInfo& v) {
  return {.kernel = "variant:" + v.name, .is_expected = false,
          .produce = [&v](PreparedCase& p, std::vector<double>* out, std::string*) {
            const CaseSpec& c = p.spec;
            const Inputs& in = p.inputs;
            std::vector<float> f(c.problem.shape.q_elements());
            poison(f);
            v.run(c.problem, in, c.recipe, c.tiles, f, 1);
            out->assign(f.begin(), f.end());
            return true;
          },
          .unsupported = [&v](const CaseSpec& c) { return variant_unsupported(v, c.recipe); }};
}

std::string format_diagnostics(const Diagnostics& diags) {
  std::vector<std::string> lines;
  for (const Diagnostic& d : diags) lines.push_back(d.format());
  return fmt::format("{}", fmt::join(lines, "\n"));
}

// --recipe: each case of one config parsed again under each recipe, one at a time, so that a case
// the recipe cannot compute (src/suite/numeric_limits_check.hpp) is listed and the others still run.
bool jobs_under_recipes(const CalibrationPlan& plan, const std::string& config, const Suite& suite,
                        CalibrationJobs* out, std::string* err) {
  auto selected = [&](const std::string& name) { return !plan.selected || plan.selected(name); };
  std::string text;
  if (!read_text_file(config, &text, err)) return false;
  const nlohmann::json doc = nlohmann::json::parse(text);  // load_suite has accepted it
  for (const std::string& recipe : plan.recipes) {
    const nlohmann::json patched = with_precision(doc, recipe);
    for (std::size_t i = 0; i < patched["cases"].size(); ++i) {
      nlohmann::json one = patched;
      one["cases"] = nlohmann::json::array({patched["cases"][i]});
      const std::string name = suite.cases[i].name;
      if (!selected(name) && !selected(name + "@" + recipe)) continue;
      Suite single;
      Diagnostics d;
      if (!parse_suite(one, config, {.threads = 1}, &single, &d) || single.cases.size() != 1) {
        out->refused.push_back(fmt::format("{}/{}@{}: {}", suite.name, name, recipe, d.empty() ? "refused" : d.front().message));
        continue;
      }
      single.cases[0].name = name + "@" + recipe;
      out->jobs.push_back({suite.name, std::move(single.cases[0]), recipe});
    }
  }
  return true;
}

// The runs of a calibration, collected from the worker threads: margins per (group, kernel, gate)
// and per (case, kernel, gate) in first-seen order, and the false alarms.
class Collector {
 public:
  explicit Collector(Calibration& cal) : cal_(cal) {}

  // One kernel's result on one (case, seed) run.
  void result(const CalibrationJob& job, const std::string& where, std::uint64_t seed, const std::string& kernel,
              const CaseResult& r) {
    std::lock_guard lock(mu_);
    if (r.verdict == Verdict::unsupported) {
      const Key k{job.group, kernel, "unsupported"};
      row(cal_.margins, cal_.order, k);
      cal_.notes[k] = r.error;
      return;
    }
    bool gate_failed = false;
    for (const GateResult& g : r.gates) {
      const bool lower = find_gate_kind(g.name)->lower;
      record(cal_.margins, cal_.order, {job.group, kernel, g.name}, g, where, seed, lower);
      if (!job.group.starts_with("edges/"))  // the grid's 7500 cases: per recipe only
        record(cal_.case_margins, cal_.case_order, {where, kernel, g.name}, g, where, seed, lower);
      gate_failed |= !g.pass;
    }
    for (const TensorResult& t : r.tensors)  // a backward case's (SPEC §10): "dq: max_abs_vs_naive"
      for (const GateResult& g : t.gates) {
        const std::string gate = t.name + ": " + g.name;
        record(cal_.margins, cal_.order, {job.group, kernel, gate}, g, where, seed, false);
        record(cal_.case_margins, cal_.case_order, {where, kernel, gate}, g, where, seed, false);
        gate_failed |= !g.pass;
      }
    // A failure no gate accounts for (non-finite values, an error) counts too.
    if (r.verdict == Verdict::pass) return;
    if (!gate_failed) ++row(cal_.margins, cal_.order, {job.group, kernel, "verdict"}).failed;
    ++cal_.alarms_by_kernel[kernel];
    cal_.alarms.push_back({where, kernel, seed, r.failures.empty() ? r.error : fmt::format("{}", fmt::join(r.failures, "; "))});
  }

 private:
  static GateMargin& row(std::map<Key, GateMargin>& m, std::vector<Key>& order, const Key& k) {
    if (!m.count(k)) order.push_back(k), m[k] = {};
    return m[k];
  }

  // `lower`: the gate is a lower bound (the output's gates say so; a tensor's are all upper bounds).
  void record(std::map<Key, GateMargin>& m, std::vector<Key>& order, const Key& k, const GateResult& g,
              const std::string& where, std::uint64_t seed, bool lower) {
    GateMargin& w = row(m, order, k);
    if (!g.value) {  // skipped, or failed without a value (a constant output): the note says which
      cal_.notes[k] = g.note;
      if (!g.pass) ++w.failed, w.at_case = where, w.seed = seed;
      return;
    }
    ++w.evaluated;
    w.failed += !g.pass;
    const double u = gate_utilisation(*g.value, g.bound, lower);
    if (u > w.utilisation || (u == w.utilisation && (seed < w.seed || (seed == w.seed && where < w.at_case))))
      w = {u, seed, *g.value, g.bound, w.evaluated, w.failed, where, g.note};
  }

  Calibration& cal_;
  std::mutex mu_;
};

// What a row of the margins reads as.
enum class RowKind {
  unsupported,           // the kernel cannot run the cases
  unexplained,           // the "verdict" row: failures that no gate explains
  failed_without_value,  // failed without a value every time it ran
  skipped,               // never evaluated: the gate's own note says why
  measured,              // the worst use of the bound
};

RowKind row_kind(const Key& k, const GateMargin& w) {
  const std::string& gate = std::get<2>(k);
  if (gate == "unsupported") return RowKind::unsupported;
  if (gate == "verdict") return RowKind::unexplained;
  if (w.evaluated == 0 && w.failed) return RowKind::failed_without_value;
  if (w.evaluated == 0) return RowKind::skipped;
  return RowKind::measured;
}

std::string note_of(const Calibration& cal, const Key& k) {
  const auto it = cal.notes.find(k);
  return it == cal.notes.end() ? "" : it->second;
}

// "skipped: ..." once, whether the gate's note says it already or not.
std::string skipped_why(const std::string& note) { return note.starts_with("skipped: ") ? note : "skipped: " + note; }

nlohmann::json margins_json(const Calibration& cal, const std::vector<Key>& order, const std::map<Key, GateMargin>& m) {
  nlohmann::json out = nlohmann::json::array();
  for (const Key& k : order) {
    const auto& [group, kernel, gate] = k;
    const GateMargin& w = m.at(k);
    nlohmann::json row = {{"case", group}, {"kernel", kernel}, {"gate", gate}};
    switch (row_kind(k, w)) {
      case RowKind::unsupported: row["unsupported"] = note_of(cal, k); break;
      case RowKind::unexplained: row["failed"] = w.failed; break;
      case RowKind::failed_without_value:
        row.update({{"failed", w.failed}, {"note", note_of(cal, k)}, {"at_case", w.at_case}, {"seed", w.seed}});
        break;
      case RowKind::skipped: continue;
      case RowKind::measured:
        row.update({{"utilisation", w.utilisation}, {"seed", w.seed}, {"value", w.value}, {"bound", w.bound},
                    {"evaluated", w.evaluated}, {"failed", w.failed}, {"at_case", w.at_case}, {"note", w.note}});
        break;
    }
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

double gate_utilisation(double value, double bound, bool lower) {
  if (lower) return bound >= 1.0 ? (value >= 1.0 ? 0.0 : HUGE_VAL) : (1.0 - value) / (1.0 - bound);
  return bound > 0.0 ? value / bound : (value > 0.0 ? HUGE_VAL : 0.0);
}

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

bool calibration_jobs(const CalibrationPlan& plan, CalibrationJobs* out, std::string* err) {
  auto selected = [&](const std::string& name) { return !plan.selected || plan.selected(name); };
  for (std::size_t s = 0; s <= plan.configs.size(); ++s) {
    const bool grid = s == plan.configs.size();
    if (grid && !plan.grid) break;
    Suite suite;
    Diagnostics diags;
    const bool loaded = grid ? parse_suite(edge_grid_suite(), "--grid edges", {.threads = 1}, &suite, &diags)
                             : load_suite(plan.configs[s], {.threads = 1}, &suite, &diags);
    if (!loaded) {
      *err = format_diagnostics(diags);
      return false;
    }
    if (grid || plan.recipes.empty()) {
      for (const CaseSpec& c : suite.cases)
        if (selected(c.name)) out->jobs.push_back({suite.name, c, grid ? "edges/" + c.recipe.name : c.recipe.name});
      continue;
    }
    if (!jobs_under_recipes(plan, plan.configs[s], suite, out, err)) return false;
  }
  return true;
}

std::vector<Candidate> calibration_kernels(const std::vector<std::string>& names) {
  std::vector<Candidate> kernels = {tiled_candidate(1)};
  auto named = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
  if (named("none")) return kernels;
  for (const VariantInfo& v : variants())
    if (names.empty() || named(v.name)) kernels.push_back(variant_candidate(v));
  return kernels;
}

Calibration run_calibration(const CalibrationPlan& plan, const CalibrationJobs& jobs, const std::vector<Candidate>& kernels,
                            const std::function<void(const CalibrationProgress&)>& on_progress) {
  Calibration cal{.seeds = plan.seeds, .cases = jobs.jobs.size(), .recipes = plan.recipes, .refused = jobs.refused};
  for (const Candidate& k : kernels) cal.kernels.push_back(k.kernel);
  Collector collect(cal);
  const auto start = std::chrono::steady_clock::now();
  auto run_one = [&](const CalibrationJob& job, std::uint64_t seed) {
    const std::string where = job.suite + "/" + job.spec.name;
    CaseSpec c = job.spec;
    c.seed = seed;
    PreparedCase p = prepare_case(c, 1);  // inputs, golden and naive once for every kernel
    for (const Candidate& cand : kernels) {
      const std::string why = unsupported_reason(c, cand);
      collect.result(job, where, seed, cand.kernel,
                     why.empty() ? judge(p, cand, {.threads = 1, .worst = 0, .breakdown = false})
                                 : unsupported_result(c, cand, why));
    }
  };
  std::mutex progress_mu;
  CalibrationProgress progress{.total = std::int64_t(jobs.jobs.size()) * plan.seeds};
  auto report = [&](const CalibrationJob* job) {
    if (!on_progress) return;
    std::lock_guard lock(progress_mu);
    ++progress.done;
    progress.job = job;
    progress.seeds_done += job != nullptr;
    on_progress(progress);
  };
  if (plan.grid) {
    // Thousands of tiny cases: parallel over (case, seed) pairs, in a fixed order of results.
    parallel_for(progress.total, plan.threads, [&](std::int64_t t) {
      run_one(jobs.jobs[std::size_t(t / plan.seeds)], std::uint64_t(t % plan.seeds));
      report(nullptr);
    });
  } else {
    for (std::size_t j = 0; j < jobs.jobs.size(); ++j) {
      const CalibrationJob& job = jobs.jobs[j];
      progress.job_index = j;
      progress.seeds_done = 0;
      parallel_for(plan.seeds, plan.threads, [&](std::int64_t seed) {
        run_one(job, std::uint64_t(seed));
        report(&job);
      });
    }
  }
  // Parallel runs finish in any order: sort what is shown so that it is the same every run.
  std::sort(cal.alarms.begin(), cal.alarms.end(), [](const FalseAlarm& a, const FalseAlarm& b) {
    return std::tie(a.where, a.kernel, a.seed) < std::tie(b.where, b.kernel, b.seed);
  });
  cal.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Key& k : cal.order) {
    const GateMargin& w = cal.margins.at(k);
    cal.false_alarms += w.failed;
    if (row_kind(k, w) == RowKind::measured) cal.worst_utilisation = std::max(cal.worst_utilisation, w.utilisation);
  }
  return cal;
}

std::string margins_table(const Calibration& cal) {
  std::string table;
  for (const Key& k : cal.order) {
    const auto& [group, kernel, gate] = k;
    const GateMargin& w = cal.margins.at(k);
    switch (row_kind(k, w)) {
      case RowKind::unsupported:
        table += fmt::format("{:<44} {:<22} unsupported: {}\n", group, kernel, note_of(cal, k));
        break;
      case RowKind::unexplained:
        table += fmt::format("{:<44} {:<22} {:<20} FAILED x{} (no gate: see the list below)\n", group, kernel, gate, w.failed);
        break;
      case RowKind::failed_without_value:
        table += fmt::format("{:<44} {:<22} {:<20} FAILED x{}: {}  ({} seed {})\n", group, kernel, gate, w.failed,
                             note_of(cal, k), w.at_case, w.seed);
        break;
      case RowKind::skipped:
        table += fmt::format("{:<44} {:<22} {:<20} {}\n", group, kernel, gate, skipped_why(note_of(cal, k)));
        break;
      case RowKind::measured:
        table += fmt::format("{:<44} {:<22} {:<20} {:>7.3f}  seed {:<5} value {:<11.4g} bound {:<11.4g}{}  ({})\n", group,
                             kernel, gate, w.utilisation, w.seed, w.value, w.bound,
                             w.failed ? fmt::format("  FAILED x{}", w.failed) : "", w.at_case);
        break;
    }
  }
  return table;
}

std::string alarms_text(const Calibration& cal) {
  std::string lines;
  for (std::size_t a = 0; a < cal.alarms.size() && a < kAlarmsShown; ++a)
    lines += fmt::format("false alarm: {} [{}] seed {}: {}\n", cal.alarms[a].where, cal.alarms[a].kernel, cal.alarms[a].seed,
                         cal.alarms[a].what);
  if (cal.alarms.size() > kAlarmsShown)
    lines += fmt::format("... and {} more false alarms (all in --json)\n", cal.alarms.size() - kAlarmsShown);
  for (const std::string& r : cal.refused) lines += fmt::format("refused: {}\n", r);
  return lines;
}

std::string calibration_summary(const Calibration& cal) {
  std::string by_kernel;
  for (const std::string& k : cal.kernels) {
    const auto it = cal.alarms_by_kernel.find(k);
    by_kernel += fmt::format("{}{} {}", by_kernel.empty() ? "" : ", ", k, it == cal.alarms_by_kernel.end() ? 0 : it->second);
  }
  return fmt::format(
      "calibration: {} cases x {} seeds x {} kernels, worst use of a bound {:.3f}, {} false alarms ({:.1f} s)\n"
      "failing runs per kernel: {}\n",
      cal.cases, cal.seeds, cal.kernels.size(), cal.worst_utilisation, cal.false_alarms, cal.seconds, by_kernel);
}

std::string default_gates_text(const Calibration& cal) {
  std::vector<std::string> seen;
  std::string lines;
  for (const Key& k : cal.order) {
    std::string_view group = std::get<0>(k);
    if (group.starts_with("edges/")) group.remove_prefix(6);
    if (std::find(seen.begin(), seen.end(), group) != seen.end()) continue;
    seen.emplace_back(group);
    std::string err;
    const std::optional<Recipe> r = parse_recipe_text(group, &err);
    if (!r) continue;
    std::string gates;
    for (const GateSpec& g : default_gates(*r)) {
      const GateKind* kind = find_gate_kind(g.name);
      const bool relaxed = g.name == "min_pass_rate" || g.name == "min_pearson";
      gates += fmt::format("{}{} ", gates.empty() ? "" : ", ", g.name);
      if (kind && kind->relative) gates += fmt::format("k {:g}", g.k);
      else gates += fmt::format("{:g}", g.bound) + (relaxed && g.k > 0.0 ? fmt::format(" (k {:g})", g.k) : "");
    }
    const Tolerance t = default_tolerance(*r);
    lines += fmt::format("default gates of {}: {}; tolerance atol {:g} rtol {:g}\n", r->name, gates, t.atol, t.rtol);
  }
  return lines;
}

std::string calibration_markdown(const Calibration& cal) {
  std::string md =
      "| recipe | kernel | gate | worst use of the bound | at seed | value | bound | failures | worst case |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (const Key& k : cal.order) {
    const auto& [group, kernel, gate] = k;
    const GateMargin& w = cal.margins.at(k);
    switch (row_kind(k, w)) {
      case RowKind::unsupported:
        md += fmt::format("| {} | {} | unsupported | {} | | | | | |\n", group, kernel, note_of(cal, k));
        break;
      case RowKind::unexplained:
        md += fmt::format("| {} | {} | {} | failed without a gate | | | | | {} |\n", group, kernel, gate, w.failed);
        break;
      case RowKind::failed_without_value:
        md += fmt::format("| {} | {} | {} | {} | {} | | | {} | {} |\n", group, kernel, gate, note_of(cal, k), w.seed,
                          w.failed, w.at_case);
        break;
      case RowKind::skipped:
        md += fmt::format("| {} | {} | {} | {} | | | | | |\n", group, kernel, gate, skipped_why(note_of(cal, k)));
        break;
      case RowKind::measured:
        md += fmt::format("| {} | {} | {} | {:.3f} | {} | {:.4g} | {:.4g} | {} | {} |\n", group, kernel, gate,
                          w.utilisation, w.seed, w.value, w.bound, w.failed, w.at_case);
        break;
    }
  }
  return md + "\n" + alarms_text(cal) + calibration_summary(cal);
}

nlohmann::json calibration_json(const Calibration& cal) {
  nlohmann::json alarms = nlohmann::json::array();
  for (const FalseAlarm& a : cal.alarms)
    alarms.push_back({{"case", a.where}, {"kernel", a.kernel}, {"seed", a.seed}, {"failure", a.what}});
  return {{"seeds", cal.seeds},
          {"kernels", cal.kernels},
          {"recipes", cal.recipes},
          {"false_alarms", cal.false_alarms},
          {"worst_utilisation", cal.worst_utilisation},
          {"seconds", cal.seconds},
          {"margins", margins_json(cal, cal.order, cal.margins)},
          {"case_margins", margins_json(cal, cal.case_order, cal.case_margins)},
          {"alarms", alarms},
          {"refused", cal.refused}};
}

}  // namespace attn
