#include "src/report/baseline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"
#include "src/base/numfmt.hpp"
#include "src/suite/dtype.hpp"

namespace attn {

using nlohmann::json;

namespace {

std::optional<double> number_at(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return std::nullopt;
  return j.at(key).get<double>();
}

}  // namespace

bool load_baseline(const std::string& path, BaselineReport* out, std::string* err) {
  std::string text, why;
  if (!read_text_file(path, &text, &why)) {
    *err = fmt::format("{}: error: cannot read the baseline report: {}", printable(path), why);
    return false;
  }
  JsonError json_err;  // NUL bytes, duplicate keys (a second "cases" list), malformed
  const std::optional<json> parsed = parse_json_strict(text, &json_err);
  if (!parsed) {
    *err = json_err.format(path) + (json_err.note.empty() ? "\nnote: pass a report written by --json" : "");
    return false;
  }
  const json& doc = *parsed;
  if (!doc.is_object()) {
    *err = fmt::format("{}: error: the baseline is not a JSON object\nnote: pass a report written by --json", path);
    return false;
  }
  if (!doc.contains("schema") || doc.at("schema") != "attn-diff.report.v1") {
    *err = fmt::format("{}: error: the baseline's schema is not 'attn-diff.report.v1'\nnote: pass a report written by --json",
                       path);
    return false;
  }
  if (!doc.contains("cases") || !doc.at("cases").is_array()) {
    *err = fmt::format("{}: error: the baseline has no 'cases' array", path);
    return false;
  }
  out->file = path;
  out->cases.clear();
  for (const json& c : doc.at("cases")) {
    if (!c.is_object() || !c.contains("name") || !c.at("name").is_string()) {
      *err = fmt::format("{}: error: a case of the baseline has no 'name'", path);
      return false;
    }
    CaseResult::Baseline b;
    if (c.contains("metrics") && c.at("metrics").is_object() && c.at("metrics").contains("vs_golden")) {
      const json& m = c.at("metrics").at("vs_golden");
      b.max_abs = number_at(m, "max_abs");
      b.mae = number_at(m, "mae");
    }
    // A merged baseline may hold several suites; keyed by "suite/name" so the lookup can prefer its own.
    const std::string suite = c.contains("suite") && c.at("suite").is_string() ? c.at("suite").get<std::string>() : "";
    out->cases[suite + "/" + c.at("name").get<std::string>()] = b;
  }
  return true;
}

double baseline_floor(double growth, DType output, double scale) { return growth * unit_roundoff(output) * scale; }

std::optional<double> relative_change(const std::optional<double>& before, const std::optional<double>& now) {
  if (!before || !now) return std::nullopt;
  if (*before == 0.0) return *now == 0.0 ? std::optional<double>(0.0) : std::nullopt;
  return *now / *before - 1.0;
}

std::string format_change(const std::optional<double>& change) {
  if (!change) return "-";
  const double pct = 100.0 * *change;
  if (pct == 0.0) return "0%";
  return std::abs(pct) < 10.0 ? fmt::format("{:+.1f}%", pct) : fmt::format("{:+.0f}%", pct);
}

std::string format_change(const json& change) {
  return format_change(change.is_number() ? std::optional<double>(change.get<double>()) : std::nullopt);
}

json baseline_change_to_json(const CaseResult& r) {
  auto opt = [](const std::optional<double>& x) { return x ? json(*x) : json(nullptr); };
  const CaseResult::Baseline& b = *r.baseline;
  return {{"max_abs", opt(b.max_abs)},
          {"mae", opt(b.mae)},
          {"max_abs_change", opt(relative_change(b.max_abs, r.vs_golden.max_abs))},
          {"mae_change", opt(relative_change(b.mae, r.vs_golden.mae))}};
}

namespace {

const CaseResult::Baseline* find_case(const BaselineReport& base, const std::string& suite, const std::string& name) {
  for (const std::string& key : {suite + "/" + name, "/" + name})
    if (auto it = base.cases.find(key); it != base.cases.end()) return &it->second;
  return nullptr;
}

// The baseline_growth gate of one case: the metric closest to (or furthest over) its bound speaks for both.
GateResult growth_gate(const CaseResult& r, double growth) {
  GateResult g{.name = "baseline_growth"};
  const CaseResult::Baseline& b = *r.baseline;
  if (!b.max_abs || !b.mae || !r.vs_golden.max_abs || !r.vs_golden.mae) {
    g.note = !b.max_abs ? "skipped: the baseline has no error for this case" : "skipped: no finite error to compare";
    return g;
  }
  const double mean_abs = r.breakdown ? r.breakdown->reference_mean_abs : r.golden_max_abs_value;
  struct Side {
    const char* name;
    double before, now, floor;
  };
  const Side sides[] = {
      {"max_abs", *b.max_abs, *r.vs_golden.max_abs, baseline_floor(growth, r.spec.recipe.output, r.golden_max_abs_value)},
      {"mae", *b.mae, *r.vs_golden.mae, baseline_floor(growth, r.spec.recipe.output, mean_abs)}};
  double worst_ratio = -1.0;
  std::vector<std::string> parts;
  for (const Side& s : sides) {
    const double bound = s.before * (1.0 + growth) + s.floor;
    const double ratio = bound > 0 ? s.now / bound : (s.now > 0 ? HUGE_VAL : 0.0);
    if (ratio > worst_ratio) worst_ratio = ratio, g.value = s.now, g.bound = bound;
    // Now and the bound with the digits that tell them apart (src/base/numfmt.hpp): "+10%, allowed +10%"
    // alone cannot say why a case failed.
    const auto [now, allowed] = distinct_digits(s.now, bound);
    parts.push_back(fmt::format("{} {} vs {:.3g} ({}; allowed {}: +{:.0f}% + {:.2g})", s.name, now, s.before,
                                format_change(relative_change(s.before, s.now)), allowed, 100.0 * growth, s.floor));
  }
  g.pass = *g.value <= g.bound;
  g.note = fmt::format("{}", fmt::join(parts, "; "));
  return g;
}

}  // namespace

void apply_baseline(const BaselineReport& base, const std::vector<std::string>& suite_cases, RunReport* report) {
  RunReport::Baseline info{.file = base.file};
  for (CaseResult& r : report->cases) {
    const CaseResult::Baseline* b = find_case(base, report->suite, r.spec.name);
    if (!b) {
      info.new_cases.push_back(r.spec.name);
      continue;
    }
    r.baseline = *b;
    if (r.verdict != Verdict::pass && r.verdict != Verdict::fail) continue;
    const auto spec = std::find_if(r.spec.gates.begin(), r.spec.gates.end(),
                                   [](const GateSpec& g) { return g.name == "baseline_growth"; });
    if (spec == r.spec.gates.end()) continue;  // switched off for this case
    GateResult g = growth_gate(r, spec->bound);
    if (!g.pass) {
      r.failures.push_back(fmt::format("gate baseline_growth: {}", g.note));
      r.verdict = Verdict::fail;
    }
    r.gates.push_back(std::move(g));
  }
  const std::set<std::string> present(suite_cases.begin(), suite_cases.end());
  for (const auto& [key, b] : base.cases) {
    const std::string suite = key.substr(0, key.find('/')), name = key.substr(key.find('/') + 1);
    if ((suite.empty() || suite == report->suite) && !present.count(name)) info.vanished_cases.push_back(name);
  }
  report->baseline = std::move(info);
}

}  // namespace attn
