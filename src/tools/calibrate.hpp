// The calibration engine behind `attn-diff calibrate`: run the correct tiled kernel and the
// legitimate variants (kernels/variants.hpp) over many seeds and keep, per gate, how close each
// came to a false alarm, so a reader can see why each bound is what it is. It prints nothing:
// progress goes to a callback, and the margins come back as data with their text, Markdown and
// JSON renderings (src/cli/calibrate.cpp prints them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/judge/runner.hpp"

namespace attn {

/// The `--grid edges` suite, as a config document (SPEC §4): small shapes at every tile edge for
/// every recipe. Tiles q = 4, kv = 4; tokens and kv_tokens in {1, 3, 4, 5, 9} (1, T-1, T, T+1 and
/// a non-multiple past two tiles; kv_tokens < tokens puts rows before the first key); heads / kv_heads
/// in {1/1, 2/1, 4/2}; masks causal, causal with window 1, non-causal window 3 and non-causal window
/// 16 (> every kv_tokens); sinks none or normal; head_dim 8 and 33 (odd, past one 32-wide block).
/// Case names read "RECIPE/sqN_skN_hH-G_MASK_SINKS_dD".
nlohmann::json edge_grid_suite();

/// How much of a gate's allowance a value uses: value / bound for upper bounds, and
/// (1 - value) / (1 - bound) for lower bounds on quantities at most 1 (correlation, pass rate).
/// Up to 1 passes; the gate fails above 1.
double gate_utilisation(double value, double bound, bool lower);

/// What to calibrate.
struct CalibrationPlan {
  std::vector<std::string> configs;  // suite files
  bool grid = false;                 // also the edge grid (edge_grid_suite()), after the configs
  // Every config case runs under each of these recipes instead of its own, its tolerance and gates
  // reset to the recipe's defaults, named CASE@RECIPE (empty = each case with its own recipe).
  std::vector<std::string> recipes;
  // Which cases run (empty = every one). Under `recipes`, a case runs when CASE or CASE@RECIPE is selected.
  std::function<bool(const std::string& case_name)> selected;
  int seeds = 1000;  // seeds 0..seeds-1 per case
  int threads = 1;
};

/// One case, run over every seed.
struct CalibrationJob {
  std::string suite;
  CaseSpec spec;      // with an overridden recipe, the case as parsed under it
  std::string group;  // margins are kept per group: the recipe (edges/RECIPE for the grid)
};

struct CalibrationJobs {
  std::vector<CalibrationJob> jobs;
  std::vector<std::string> refused;  // "SUITE/CASE@RECIPE: why" for each case a recipe cannot compute
};

/// The plan's cases: each config's in order (under each recipe in turn), then the grid's. False
/// when a config does not load, with the message to show in `err` (one diagnostic a line).
bool calibration_jobs(const CalibrationPlan& plan, CalibrationJobs* out, std::string* err);

/// The kernels judged: the tiled kernel, then the legitimate variants in `names`, in the
/// variants' table order (empty = every one; "none" = the tiled kernel only).
std::vector<Candidate> calibration_kernels(const std::vector<std::string>& names);

/// The worst use of one gate's bound over the runs of a group (or of a case) on one kernel.
struct GateMargin {
  double utilisation = -1.0;
  std::uint64_t seed = 0;
  double value = 0.0, bound = 0.0;
  int evaluated = 0, failed = 0;
  std::string at_case;  // the case of the worst use
  std::string note;     // the worst use's gate note: how its bound was formed
};

/// One failure of a correct implementation: a gate above its bound, or a failure no gate explains.
struct FalseAlarm {
  std::string where;   // suite/case
  std::string kernel;  // "tiled" or "variant:<name>"
  std::uint64_t seed;
  std::string what;    // the runner's failure line
};

/// What a calibration found. Besides the gates, a row's gate may be "unsupported" (the kernel
/// cannot run the group's cases: the note says why) or "verdict" (failures no gate explains).
struct Calibration {
  using Key = std::tuple<std::string, std::string, std::string>;  // (group or suite/case, kernel, gate)
  int seeds = 0;
  std::size_t cases = 0;
  std::vector<std::string> kernels;
  std::vector<std::string> recipes;
  std::vector<std::string> refused;
  std::vector<Key> order;  // the rows of `margins`, in first-seen order
  std::map<Key, GateMargin> margins;
  std::vector<Key> case_order;  // the rows of `case_margins`: config cases only, not the grid's
  std::map<Key, GateMargin> case_margins;
  std::map<Key, std::string> notes;  // a row's note when it has no value: unsupported, skipped, failed without one
  std::vector<FalseAlarm> alarms;    // sorted by case, kernel and seed
  std::map<std::string, int> alarms_by_kernel;
  int false_alarms = 0;              // failed runs over every row of `margins`
  double worst_utilisation = 0.0;    // over every row of `margins` with a value
  double seconds = 0.0;
};

/// How far a calibration has come, after each (case, seed) run.
struct CalibrationProgress {
  std::int64_t done = 0, total = 0;  // (case, seed) runs
  // Config cases run one after the other: the case whose seeds run, and how many of them are done.
  // On the grid, (case, seed) pairs run interleaved, and `job` is null.
  const CalibrationJob* job = nullptr;
  std::size_t job_index = 0;
  int seeds_done = 0;
};

/// Runs every job over seeds 0..plan.seeds-1 on every kernel: seeds in parallel, each case
/// single-threaded (small cases gain more that way); with plan.grid, (case, seed) pairs in
/// parallel. `on_progress` is called from the worker threads, one call at a time.
Calibration run_calibration(const CalibrationPlan& plan, const CalibrationJobs& jobs, const std::vector<Candidate>& kernels,
                            const std::function<void(const CalibrationProgress&)>& on_progress = {});

/// The margins per group as a fixed-width table, one row a line.
std::string margins_table(const Calibration& cal);
/// The false alarms (the first 40; all are in the JSON) and the refused cases, one a line.
std::string alarms_text(const Calibration& cal);
/// "calibration: N cases x S seeds x K kernels, worst use of a bound U, F false alarms (T s)" and
/// the failing runs per kernel, two lines.
std::string calibration_summary(const Calibration& cal);
/// The default gates and tolerance of every recipe the calibration ran (its groups' recipes, in
/// first-seen order), one line each: "default gates of fp32: max_abs_vs_naive k 4, ...". What a
/// case of that recipe is judged by when it sets no gates of its own.
std::string default_gates_text(const Calibration& cal);
/// The margins per group as a Markdown table, then the alarms and the summary.
std::string calibration_markdown(const Calibration& cal);
/// Everything: the margins per group and per case, every alarm, the refused cases.
nlohmann::json calibration_json(const Calibration& cal);

}  // namespace attn
