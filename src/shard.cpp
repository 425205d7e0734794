#include "src/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

namespace attn {

using nlohmann::json;

std::optional<Shard> parse_shard(const std::string& text, std::string* err) {
  auto bad = [&](const std::string& why) {
    *err = fmt::format("error: --shard '{}': {}\nnote: --shard I/N runs the I-th of N shards, 1 <= I <= N (e.g. 2/4)",
                       text, why);
    return std::nullopt;
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos) return bad("expected I/N");
  Shard s;
  const char* end = text.data() + text.size();
  auto [p1, e1] = std::from_chars(text.data(), text.data() + slash, s.index);
  auto [p2, e2] = std::from_chars(text.data() + slash + 1, end, s.count);
  if (e1 != std::errc() || p1 != text.data() + slash || e2 != std::errc() || p2 != end) return bad("expected I/N");
  if (s.count < 1) return bad("N must be at least 1");
  if (s.index < 1 || s.index > s.count) return bad(fmt::format("I must be between 1 and {}", s.count));
  return s;
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

int shard_of(std::string_view case_name, int count) { return int(fnv1a64(case_name) % std::uint64_t(count)) + 1; }

namespace {

std::string string_or(const json& j, const char* key, const std::string& fallback) {
  return j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : fallback;
}

void add_unique(json& list, const json& items) {
  for (const json& x : items)
    if (std::find(list.begin(), list.end(), x) == list.end()) list.push_back(x);
}

}  // namespace

bool merge_reports(const std::vector<json>& reports, const std::vector<std::string>& files, json* out, std::string* err) {
  json cases = json::array(), suites = json::array(), configs = json::array();
  std::map<std::string, std::string> seen;  // "suite/name" -> file
  std::map<int, std::set<int>> shards;      // N -> the indices given
  bool incomplete = false, any_baseline = false;
  std::int64_t not_run = 0;
  json baseline = {{"file", json::array()}, {"new", json::array()}, {"vanished", json::array()}};
  for (std::size_t n = 0; n < reports.size(); ++n) {
    const json& r = reports[n];
    const std::string& file = files[n];
    if (!r.is_object() || string_or(r, "schema", "") != "attn-diff.report.v1") {
      *err = fmt::format("{}: error: not an attn-diff JSON report v1 (schema '{}')", file,
                         r.is_object() ? string_or(r, "schema", "none") : "none");
      return false;
    }
    if (!r.contains("cases") || !r.at("cases").is_array()) {
      *err = fmt::format("{}: error: the report has no 'cases' array", file);
      return false;
    }
    const std::string suite = string_or(r, "suite", "");
    add_unique(suites, json::array({suite}));
    add_unique(configs, json::array({string_or(r, "config", "")}));
    if (r.contains("shard")) {
      std::string why;
      const auto s = parse_shard(string_or(r, "shard", ""), &why);
      if (!s || !shards[s->count].insert(s->index).second) {
        *err = fmt::format("{}: error: shard '{}' {}", file, string_or(r, "shard", "?"), s ? "is given twice" : "is malformed");
        return false;
      }
    }
    for (const json& c : r.at("cases")) {
      if (!c.is_object() || !c.contains("name") || !c.at("name").is_string() || !c.contains("verdict")) {
        *err = fmt::format("{}: error: a case without 'name' or 'verdict'", file);
        return false;
      }
      json copy = c;
      if (!copy.contains("suite")) copy["suite"] = suite;
      const std::string key = string_or(copy, "suite", "") + "/" + c.at("name").get<std::string>();
      if (auto [it, fresh] = seen.emplace(key, file); !fresh) {
        *err = fmt::format("{}: error: case '{}' of suite '{}' is also in {}\nnote: merge joins reports of disjoint cases "
                           "(the shards of one run, or different suites)",
                           file, c.at("name").get<std::string>(), string_or(copy, "suite", ""), it->second);
        return false;
      }
      cases.push_back(std::move(copy));
    }
    if (r.contains("summary") && r.at("summary").is_object()) {
      const json& s = r.at("summary");
      incomplete = incomplete || s.value("incomplete", false);
      not_run += s.value("not_run", std::int64_t(0));
    }
    if (r.contains("baseline") && r.at("baseline").is_object()) {
      any_baseline = true;
      const json& b = r.at("baseline");
      add_unique(baseline["file"], json::array({b.value("file", "")}));
      add_unique(baseline["new"], b.value("new", json::array()));
      add_unique(baseline["vanished"], b.value("vanished", json::array()));
    }
  }
  for (const auto& [count, given] : shards)
    for (int i = 1; i <= count; ++i)
      if (!given.count(i)) {
        *err = fmt::format("error: shard {}/{} is missing: the merged verdict would not cover every case\n"
                           "note: merge the reports of all {} shards",
                           i, count, count);
        return false;
      }
  auto count = [&](const char* verdict) {
    return std::count_if(cases.begin(), cases.end(), [&](const json& c) { return c.at("verdict") == verdict; });
  };
  std::vector<std::string> suite_names = suites.get<std::vector<std::string>>();
  json j = {{"schema", "attn-diff.report.v1"},
            {"tool", reports.empty() ? json{{"name", "attn-diff"}} : reports[0].value("tool", json::object())},
            {"suite", fmt::format("{}", fmt::join(suite_names, "+"))},
            {"config", configs.size() == 1 ? configs[0] : json(fmt::format("{}", fmt::join(configs.get<std::vector<std::string>>(), " ")))},
            {"summary", {{"cases", cases.size()}, {"passed", count("pass")}, {"failed", count("fail")},
                         {"errors", count("error")}, {"unsupported", count("unsupported")},
                         {"incomplete", incomplete}, {"not_run", not_run}}},
            {"merged_from", files},
            {"cases", cases}};
  if (any_baseline) {
    baseline["file"] = baseline["file"].size() == 1 ? baseline["file"][0] : baseline["file"];
    j["baseline"] = baseline;
  }
  *out = std::move(j);
  return true;
}

int report_exit_code(const json& report) {
  const json& s = report.at("summary");
  if (s.value("errors", 0) > 0) return 3;
  return s.value("failed", 0) > 0 ? 1 : 0;
}

}  // namespace attn
