// The regression gate (SPEC §7 `baseline_growth`): a run judged against a previous run's JSON
// report. A case fails when its max_abs or mae against golden grows by more than the case's
// `baseline_growth` (default 10%) beyond a floor; the table shows the change per case and the
// report lists the cases the baseline lacks and the ones it has that are gone.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/report/report.hpp"

namespace attn {

/// A --baseline file: each case's errors against golden, by case name.
struct BaselineReport {
  std::string file;
  std::map<std::string, CaseResult::Baseline> cases;
};

/// Reads a JSON report v1. False with a message naming the file when it is not one.
bool load_baseline(const std::string& path, BaselineReport* out, std::string* err);

/// The floor under which a growth never fails: growth × unit roundoff of the output dtype × the
/// scale of the metric (max |golden| for max_abs, mean |golden| for mae), so a change of a
/// fraction of one rounding step of the typical value does not flap.
double baseline_floor(double growth, DType output, double scale);

/// Attaches the baseline to every case it holds, adds the `baseline_growth` gate result to each
/// judged case (failing the case when it does not hold), and lists new and vanished cases:
/// vanished are the baseline's cases of this suite missing from `suite_cases` (every case of the
/// suite, before --case and --shard select), so a selection is not mistaken for a removal.
void apply_baseline(const BaselineReport& base, const std::vector<std::string>& suite_cases, RunReport* report);

/// now / before - 1; nullopt when either is missing or `before` is 0 while `now` is not.
std::optional<double> relative_change(const std::optional<double>& before, const std::optional<double>& now);

/// "+12%", "-3.5%", "0%", or "-" when there is no change to show.
std::string format_change(const std::optional<double>& change);

/// The same for a change read back from a report: a number, or null.
std::string format_change(const nlohmann::json& change);

/// {"max_abs", "mae", "max_abs_change", "mae_change"}: the baseline's errors and the relative change.
nlohmann::json baseline_change_to_json(const CaseResult& r);

}  // namespace attn
