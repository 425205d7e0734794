#include "src/report/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "src/judge/diagnosis.hpp"
#include "src/report/baseline.hpp"

namespace attn {

using nlohmann::json;

namespace {

int count(const RunReport& r, Verdict v) {
  return int(std::count_if(r.cases.begin(), r.cases.end(), [v](const CaseResult& c) { return c.verdict == v; }));
}

json opt(const std::optional<double>& x) { return x ? json(*x) : json(nullptr); }

}  // namespace

int RunReport::passed() const { return count(*this, Verdict::pass); }
int RunReport::failed() const { return count(*this, Verdict::fail); }
int RunReport::errors() const { return count(*this, Verdict::error); }
int RunReport::unsupported() const { return count(*this, Verdict::unsupported); }

json metrics_to_json(const Metrics& m) {
  json j = {{"mae", opt(m.mae)},
            {"max_abs", opt(m.max_abs)},
            {"max_abs_index", m.max_abs ? json(m.max_abs_index) : json(nullptr)},
            {"max_rel", opt(m.max_rel)},
            {"max_rel_index", m.max_rel ? json(m.max_rel_index) : json(nullptr)},
            {"rel_excluded", m.rel_excluded},
            {"rmse", opt(m.rmse)},
            {"nmse", opt(m.nmse)},
            {"pearson", opt(m.pearson)},
            {"cosine", opt(m.cosine)},
            {"pass_rate", m.pass_rate},
            {"min_atol", opt(m.min_atol)},
            {"min_rtol", opt(m.min_rtol)},
            {"nan", m.nan_candidate},
            {"inf", m.inf_candidate},
            {"unexpected_nonfinite", m.unexpected_nonfinite},
            {"first_nonfinite_index", m.first_nonfinite_index ? json(*m.first_nonfinite_index) : json(nullptr)},
            {"reference_nan", m.nan_reference},
            {"reference_inf", m.inf_reference},
            {"nonfinite_excluded", m.nonfinite_excluded},
            {"elements", m.elements}};
  json bands = json::array();
  for (const auto& [delta, frac] : m.bands) bands.push_back({{"delta", delta}, {"fraction", frac}});
  j["bands"] = bands;
  json reasons = json::object();
  for (const auto& [field, why] : m.null_reasons) reasons[field] = why;
  j["null_reasons"] = reasons;
  return j;
}

json gates_to_json(const std::vector<GateResult>& gates) {
  json out = json::array();
  for (const GateResult& g : gates) {
    json gj = {{"name", g.name}, {"bound", g.bound}, {"value", opt(g.value)}, {"pass", g.pass}};
    if (!g.note.empty()) gj["note"] = g.note;
    out.push_back(gj);
  }
  return out;
}

json case_to_json(const CaseResult& r) {
  const CaseSpec& c = r.spec;
  const Shape& s = c.problem.shape;
  json j = {{"name", c.name},
            {"verdict", verdict_name(r.verdict)},
            {"precision", c.recipe.name},
            {"kernel", r.kernel},
            {"shape", {{"batch", s.batch}, {"tokens", s.tokens}, {"kv_tokens", s.kv_tokens}, {"q_offset", s.q_offset},
                       {"heads", s.heads}, {"kv_heads", s.kv_heads}, {"head_dim", s.head_dim}}},
            {"features", {{"causal", c.problem.causal}, {"window", c.problem.window}, {"sinks", c.problem.has_sinks}}},
            {"tiles", {{"q", c.tiles.q}, {"kv", c.tiles.kv}}},
            {"seed", c.seed},
            {"tags", c.tags},
            {"seconds", r.seconds}};
  if (c.backward) j["features"]["backward"] = true;
  if (r.peak_memory_bytes) j["peak_memory_bytes"] = r.peak_memory_bytes;
  if (r.candidate_run) {
    j["candidate"] = {{"seconds", r.candidate_run->seconds}, {"output", r.candidate_run->output}};
    if (!r.candidate_run->worker.empty()) j["candidate"]["worker"] = r.candidate_run->worker;
  }
  if (r.verdict == Verdict::error || r.verdict == Verdict::unsupported) {
    j["error"] = r.error;
    return j;
  }
  json metrics = {{"vs_golden", metrics_to_json(r.vs_golden)},
                  {"vs_naive", metrics_to_json(r.vs_naive)},
                  {"naive_vs_golden", metrics_to_json(r.naive_vs_golden)}};
  if (r.expected_vs_golden) metrics["expected_vs_golden"] = metrics_to_json(*r.expected_vs_golden);
  j["metrics"] = metrics;
  // What precision explains, next to the candidate's own error (SPEC §7's yardsticks).
  const Metrics& expected = r.expected_vs_golden ? *r.expected_vs_golden : r.vs_golden;
  j["explained"] = {{"candidate_max_abs", opt(r.vs_golden.max_abs)},
                    {"naive_max_abs", opt(r.naive_vs_golden.max_abs)},
                    {"tiled_max_abs", opt(expected.max_abs)},
                    {"candidate_mae", opt(r.vs_golden.mae)},
                    {"naive_mae", opt(r.naive_vs_golden.mae)},
                    {"tiled_mae", opt(expected.mae)}};
  if (!c.recipe.note.empty()) j["explained"]["note"] = c.recipe.note;
  j["empty_rows"] = r.empty_rows;
  j["coverage"] = r.coverage;
  if (c.recipe.scaled_input()) {
    const auto& sc = r.input_scales;
    j["input_scales"] = {{"q", sc[0]}, {"k", sc[1]}, {"v", sc[2]}};
    if (!r.k_head_scales.empty()) j["input_scales"]["k"] = r.k_head_scales;
    if (!r.v_head_scales.empty()) j["input_scales"]["v"] = r.v_head_scales;
    if (c.problem.has_sinks) j["input_scales"]["sinks"] = sc[3];
  }
  j["tolerance"] = {{"atol", c.tolerance.atol}, {"rtol", c.tolerance.rtol}};
  j["gates"] = gates_to_json(r.gates);
  if (!r.tensors.empty()) {  // a backward case (SPEC §10): {"lse": {"metrics": {...}, "gates": [...]}, "dq": ...}
    json tensors = json::object();
    for (const TensorResult& t : r.tensors) {
      json m = {{"vs_golden", metrics_to_json(t.vs_golden)},
                {"vs_naive", metrics_to_json(t.vs_naive)},
                {"naive_vs_golden", metrics_to_json(t.naive_vs_golden)}};
      if (t.expected_vs_golden) m["expected_vs_golden"] = metrics_to_json(*t.expected_vs_golden);
      tensors[t.name] = {{"metrics", m}, {"gates", gates_to_json(t.gates)}};
      if (t.localisation) tensors[t.name]["localisation"] = localisation_to_json(*t.localisation);
      if (t.heatmap) tensors[t.name]["heatmap"] = heatmap_to_json(*t.heatmap);
    }
    j["tensors"] = tensors;
  }
  j["failures"] = r.failures;
  json worst = json::array();
  for (const WorstElement& w : r.worst)
    worst.push_back({{"index", w.index}, {"candidate", w.candidate}, {"reference", w.reference}, {"abs_err", w.abs_err}});
  j["worst"] = worst;
  if (r.breakdown) j["breakdown"] = breakdown_to_json(*r.breakdown);
  if (r.localisation) j["localisation"] = localisation_to_json(*r.localisation);  // src/judge/localisation.hpp
  if (r.baseline) j["baseline"] = baseline_change_to_json(r);
  // src/judge/diagnosis.hpp: {"verdict": the explaining hypothesis or "unexplained", "hypotheses": [...]}
  if (!r.diagnosis.empty()) j["diagnosis"] = diagnosis_to_json(r.diagnosis, r.verdict == Verdict::fail);
  if (!r.fingerprint.is_null()) j["fingerprint"] = r.fingerprint;
  return j;
}

json report_to_json(const RunReport& r) {
  json cases = json::array();
  for (const CaseResult& c : r.cases) {
    cases.push_back(case_to_json(c));
    cases.back()["suite"] = r.suite;  // JUnit groups the cases by it
  }
  json j = {{"schema", "attn-diff.report.v1"},
          {"tool", {{"name", "attn-diff"}, {"version", ATTN_DIFF_VERSION}}},
          {"suite", r.suite},
          {"config", printable(r.config_file)},  // a path can hold anything, even bytes that are not UTF-8
          {"summary", {{"cases", r.cases.size()}, {"passed", r.passed()}, {"failed", r.failed()},
                       {"errors", r.errors()}, {"unsupported", r.unsupported()},
                       {"incomplete", r.incomplete}, {"not_run", r.not_run}}},
          {"cases", cases}};
  if (!r.shard.empty()) j["shard"] = r.shard;
  if (!r.run.is_null()) j["run"] = r.run;
  if (r.baseline)
    j["baseline"] = {{"file", printable(r.baseline->file)}, {"new", r.baseline->new_cases}, {"vanished", r.baseline->vanished_cases}};
  return j;
}

}  // namespace attn
