// What a reduction of `shrink` writes (src/tools/shrink.hpp): a case as the config text that loads
// it back, with only the keys that differ from the defaults, one step of the reduction as the
// fields it changed, the minimal case as a suite file, and the whole reduction as JSON.
#include "src/tools/shrink.hpp"

#include <fmt/format.h>

#include <limits>
#include <map>

#include "src/report/table.hpp"

namespace attn {

namespace {

std::string dist_label(const Distribution& d) {
  if (d.dist == "constant") return fmt::format("constant({:g})", d.value);
  if (d.dist == "uniform") return fmt::format("uniform[{:g},{:g})", d.low, d.high);
  if (d.dist == "integers") return fmt::format("integers[{:g},{:g}]", d.low, d.high);
  if (d.dist == "outliers") return fmt::format("outliers({:g},{:g};{:g}x{:g})", d.mean, d.std, d.fraction, d.magnitude);
  return fmt::format("normal({:g},{:g})", d.mean, d.std);
}

std::string sinks_label(const SinksSpec& s) {
  switch (s.kind) {
    case SinksSpec::Kind::none: return "off";
    case SinksSpec::Kind::constant: return fmt::format("{:g}", s.values.at(0));
    case SinksSpec::Kind::list: return fmt::format("[{} values]", s.values.size());
    case SinksSpec::Kind::random: return dist_label(s.dist);
  }
  return "?";
}

}  // namespace

bool revalidate(const CaseSpec& c, CaseSpec* out, std::string* why) {
  Suite suite;
  Diagnostics diags;
  const LoadOptions opt{.max_memory = std::numeric_limits<std::uint64_t>::max()};
  if (!parse_suite(nlohmann::json{{"cases", {c.to_json()}}}, "<shrink>", opt, &suite, &diags)) {
    if (why) *why = diags.empty() ? "invalid" : diags.front().message;
    return false;
  }
  *out = std::move(suite.cases.front());
  return true;
}

nlohmann::ordered_json compact_case_json(const CaseSpec& c) {
  using nlohmann::json;
  const std::string want = c.to_json().dump();
  auto same = [&](const json& j) {
    Suite suite;
    Diagnostics diags;
    const LoadOptions opt{.max_memory = std::numeric_limits<std::uint64_t>::max()};
    return parse_suite(json{{"cases", {j}}}, "<shrink>", opt, &suite, &diags) &&
           suite.cases.front().to_json().dump() == want;
  };
  json j = c.to_json();
  // Drop every key the loader would give the same value to, then every such key inside objects.
  for (const std::string& key : case_keys()) {
    if (key == "name" || !j.contains(key)) continue;
    json t = j;
    t.erase(key);
    if (same(t)) j = std::move(t);
  }
  const json top = j;
  for (const auto& [key, value] : top.items()) {
    if (!value.is_object()) continue;
    for (const auto& [sub, _] : value.items()) {
      // A distribution keeps its name, and a constant its value: `{}` or `{"dist": "constant"}` read as nothing.
      if (sub == "dist" || (sub == "value" && value.value("dist", "") == "constant")) continue;
      json t = j;
      t[key].erase(sub);
      if (same(t)) j = std::move(t);
    }
  }
  // In the order a person writes a case: SPEC's key order, and within objects their own order.
  static const std::map<std::string, std::vector<std::string>> inner = {
      {"tiles", {"q", "kv"}},
      {"inputs", {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"}},
      {"sinks", {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"}},
      {"grad_output", {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"}},
      {"tolerance", {"atol", "rtol", "bands"}}};
  nlohmann::ordered_json out;
  for (const std::string& key : case_keys()) {
    if (!j.contains(key)) continue;
    const json& v = j.at(key);
    auto it = inner.find(key);
    if (!v.is_object() || it == inner.end()) {
      out[key] = v;
      continue;
    }
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    for (const std::string& sub : it->second)
      if (v.contains(sub)) o[sub] = v.at(sub);
    out[key] = o;
  }
  return out;
}

std::string describe_change(const CaseSpec& from, const CaseSpec& to) {
  const Shape &a = from.problem.shape, &b = to.problem.shape;
  std::vector<std::string> parts;
  auto num = [&](const char* name, std::int64_t x, std::int64_t y) {
    if (x != y) parts.push_back(fmt::format("{} {}→{}", name, x, y));
  };
  num("batch", a.batch, b.batch);
  num("tokens", a.tokens, b.tokens);
  num("kv_tokens", a.kv_tokens, b.kv_tokens);
  num("q_offset", a.q_offset, b.q_offset);
  num("heads", a.heads, b.heads);
  num("kv_heads", a.kv_heads, b.kv_heads);
  num("head_dim", a.head_dim, b.head_dim);
  num("window", from.problem.window, to.problem.window);
  if (from.problem.causal != to.problem.causal) parts.push_back(fmt::format("causal {}→{}", from.problem.causal, to.problem.causal));
  if (from.problem.scale != to.problem.scale && a.head_dim == b.head_dim)
    parts.push_back(fmt::format("scale {:g}→{:g}", from.problem.scale, to.problem.scale));
  if (from.tiles.q != to.tiles.q || from.tiles.kv != to.tiles.kv)
    parts.push_back(fmt::format("tiles {}x{}→{}x{}", from.tiles.q, from.tiles.kv, to.tiles.q, to.tiles.kv));
  if (sinks_label(from.sinks) != sinks_label(to.sinks) || from.sinks.values != to.sinks.values)
    parts.push_back(fmt::format("sinks {}→{}", sinks_label(from.sinks), sinks_label(to.sinks)));
  if (dist_label(from.inputs) != dist_label(to.inputs))
    parts.push_back(fmt::format("inputs {}→{}", dist_label(from.inputs), dist_label(to.inputs)));
  num("seed", std::int64_t(from.seed), std::int64_t(to.seed));
  return parts.empty() ? "no change" : fmt::format("{}", fmt::join(parts, ", "));
}

CaseSpec named_minimal(const ShrinkResult& r, const CaseSpec& original, const std::string& kernel) {
  CaseSpec c = r.minimal;
  c.name = original.name + "_min";
  c.tags = {kernel, "gate:" + r.reason.gate, "shrunk-from:" + original.name};
  if (!r.reason.hypothesis.empty()) c.tags.insert(c.tags.begin() + 2, "hypothesis:" + r.reason.hypothesis);
  return c;
}

nlohmann::ordered_json shrunk_suite(const CaseSpec& minimal, const ShrinkResult& r, const CaseSpec& original,
                                    const std::string& config, const std::string& kernel) {
  const std::string description =
      fmt::format("attn-diff shrink of case '{}' ({}) in {} with {}: fails gate {} as the original does", original.name,
                  shape_label(original.problem.shape), config, kernel, r.reason.gate);
  return {{"suite", "shrunk"}, {"description", description}, {"cases", {compact_case_json(minimal)}}};
}

const char* shrink_status_name(ShrinkResult::Status s) {
  switch (s) {
    case ShrinkResult::Status::shrunk: return "shrunk";
    case ShrinkResult::Status::not_failing: return "not-failing";
    case ShrinkResult::Status::unsupported: return "unsupported";
    case ShrinkResult::Status::candidate_error: return "candidate-error";
  }
  return "?";
}

nlohmann::ordered_json shrink_report_json(const ShrinkResult& r, const CaseSpec& original, const CaseSpec& minimal,
                                          const std::string& config, const std::string& kernel) {
  using ojson = nlohmann::ordered_json;
  ojson j = {{"schema", "attn-diff.shrink.v1"},
             {"config", config},
             {"case", original.name},
             {"candidate", kernel},
             {"status", shrink_status_name(r.status)}};
  if (!r.message.empty()) j["message"] = r.message;
  j["original"] = {{"shape", shape_label(original.problem.shape)},
                   {"features", features_label(original)},
                   {"verdict", verdict_name(r.original.verdict)},
                   {"failing", r.reason.failing},
                   {"seconds", r.verify_seconds},
                   {"case", compact_case_json(original)}};
  if (r.status != ShrinkResult::Status::shrunk) return j;
  j["reason"] = {{"gate", r.reason.gate},
                 {"hypothesis", r.reason.hypothesis.empty() ? ojson() : ojson(r.reason.hypothesis)},
                 {"hypothesis_from", r.hypothesis_from.empty() ? ojson() : ojson(r.hypothesis_from)},
                 {"reference_guard", r.reference_guard}};
  if (!r.diagnosis_note.empty()) j["reason"]["note"] = r.diagnosis_note;
  ojson steps = ojson::array();
  for (const ShrinkStep& s : r.steps)
    steps.push_back({{"pass", s.pass}, {"change", s.change}, {"runs", s.runs}, {"seconds", s.seconds},
                     {"shape", shape_label(s.result.problem.shape)}, {"case", compact_case_json(s.result)}});
  j["steps"] = steps;
  j["minimal"] = compact_case_json(minimal);
  ojson outcomes = ojson::object();
  for (const auto& [outcome, n] : r.outcomes) outcomes[repro_name(outcome)] = n;
  ojson errors = ojson::array();
  for (const CandidateErrorRecord& e : r.candidate_errors)
    errors.push_back({{"pass", e.pass}, {"message", e.message}, {"case", compact_case_json(e.proposal)}});
  j["runs"] = r.runs;
  j["outcomes"] = outcomes;
  j["candidate_errors"] = errors;
  j["over_budget"] = r.over_budget;
  j["stopped"] = r.stopped;
  j["shrink_seconds"] = r.shrink_seconds;
  return j;
}

}  // namespace attn
