#include "src/report/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "src/base/diagnostic.hpp"

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

void add_unique(json& list, const json& items) {
  for (const json& x : items)
    if (std::find(list.begin(), list.end(), x) == list.end()) list.push_back(x);
}

const char* kOneRun = "note: merge joins the shards of one run: the same suite, config, attn-diff version, seed and candidate";

// A value of a report as a message shows it: one line, no control characters.
std::string shown(const json& v) { return printable(v.dump(-1, ' ', false, json::error_handler_t::replace)); }

// "" when report `r` (from `file`) is of the same run as `first` (from `first_file`), else why not.
std::string other_run(const json& r, const std::string& file, const json& first, const std::string& first_file) {
  auto differ = [&](const std::string& what, const json& here, const json& there) {
    return fmt::format("{}: error: {} is {} here but {} in {}\n{}", file, what, shown(here), shown(there), first_file, kOneRun);
  };
  if (r.at("suite") != first.at("suite")) return differ("the suite", r.at("suite"), first.at("suite"));
  for (const char* key : {"name", "version"})
    if (r.at("tool").at(key) != first.at("tool").at(key))
      return differ(fmt::format("tool.{}", key), r.at("tool").at(key), first.at("tool").at(key));
  if (r.contains("run") != first.contains("run"))
    return fmt::format("{}: error: {} a 'run' record but {} {}\nnote: one of them was written by an older attn-diff, which "
                       "did not record the config digest, seed and candidate; rerun every shard with one attn-diff",
                       file, r.contains("run") ? "has" : "lacks", first_file, r.contains("run") ? "lacks one" : "has one");
  if (!r.contains("run"))  // old reports: the config path is all there is to compare
    return r.at("config") == first.at("config") ? "" : differ("the config", r.at("config"), first.at("config"));
  const json &a = r.at("run"), &b = first.at("run");
  for (const json* side : {&a, &b})
    for (const auto& [key, _] : side->items())
      if (a.value(key, json()) != b.value(key, json())) return differ("run." + key, a.value(key, json()), b.value(key, json()));
  return "";
}

}  // namespace

bool merge_reports(const std::vector<json>& reports, const std::vector<std::string>& files, json* out, std::string* err,
                   std::string* warning) {
  if (reports.empty()) {
    *err = "error: no report to merge";
    return false;
  }
  json cases = json::array();
  std::map<std::string, std::string> seen;  // case name -> file
  std::set<int> indices;                    // of the shards given
  bool incomplete = false, any_baseline = false;
  std::int64_t not_run = 0;
  json baseline = {{"file", json::array()}, {"new", json::array()}, {"vanished", json::array()}};
  // A report that is not a shard (no "shard") is the one shard of a split in one.
  auto shard_of_report = [](const json& r) {
    std::string unused;  // parse_report has checked the shard
    return parse_shard(r.value("shard", std::string("1/1")), &unused).value_or(Shard{});
  };
  const Shard split = shard_of_report(reports[0]);
  for (std::size_t n = 0; n < reports.size(); ++n) {
    const json& r = reports[n];
    const std::string& file = files[n];
    if (std::string why = other_run(r, file, reports[0], files[0]); !why.empty()) {
      *err = why;
      return false;
    }
    const Shard s = shard_of_report(r);
    if (s.count != split.count) {
      *err = fmt::format("{}: error: shard {}/{} is not of the split into {} that {} belongs to\n{}", file, s.index, s.count,
                         split.count, files[0], kOneRun);
      return false;
    }
    if (!indices.insert(s.index).second) {
      *err = fmt::format("{}: error: shard '{}/{}' is given twice\nnote: pass each shard's report once", file, s.index, s.count);
      return false;
    }
    for (const json& c : r.at("cases")) {
      const std::string name = c.at("name").get<std::string>();
      if (const int home = shard_of(name, s.count); home != s.index) {
        *err = fmt::format("{}: error: case '{}' belongs to shard {}/{}, not to this report's {}/{}\nnote: the report was "
                           "edited or written by another split",
                           file, printable(name), home, s.count, s.index, s.count);
        return false;
      }
      if (auto [it, fresh] = seen.emplace(name, file); !fresh) {
        *err = fmt::format("{}: error: case '{}' is also in {}\nnote: merge joins reports of disjoint cases (the shards of one run)",
                           file, printable(name), it->second);
        return false;
      }
      json copy = c;
      copy["suite"] = r.at("suite");
      cases.push_back(std::move(copy));
    }
    const json& sum = r.at("summary");
    incomplete = incomplete || sum.value("incomplete", false);
    not_run += sum.value("not_run", std::int64_t(0));
    if (r.contains("baseline")) {
      any_baseline = true;
      const json& b = r.at("baseline");
      const json f = b.value("file", json(""));
      add_unique(baseline["file"], f.is_array() ? f : json::array({f}));
      add_unique(baseline["new"], b.value("new", json::array()));
      add_unique(baseline["vanished"], b.value("vanished", json::array()));
    }
  }
  for (int i = 1; i <= split.count; ++i)
    if (!indices.count(i)) {
      *err = fmt::format("error: shard {}/{} is missing: the merged verdict would not cover every case\n"
                         "note: merge the reports of all {} shards",
                         i, split.count, split.count);
      return false;
    }
  if (!reports[0].contains("run") && warning)
    *warning = "warning: the reports have no 'run' record (written by an older attn-diff): their seeds and candidates "
               "cannot be compared, only their suite, config path and version";
  auto count = [&](const char* verdict) {
    return std::count_if(cases.begin(), cases.end(), [&](const json& c) { return c.at("verdict") == verdict; });
  };
  json j = {{"schema", "attn-diff.report.v1"},
            {"tool", reports[0].at("tool")},
            {"suite", reports[0].at("suite")},
            {"config", reports[0].at("config")},
            {"summary", {{"cases", cases.size()}, {"passed", count("pass")}, {"failed", count("fail")},
                         {"errors", count("error")}, {"unsupported", count("unsupported")},
                         {"incomplete", incomplete}, {"not_run", not_run}}},
            {"merged_from", files},
            {"cases", cases}};
  if (reports[0].contains("run")) j["run"] = reports[0].at("run");
  if (any_baseline) {
    baseline["file"] = baseline["file"].size() == 1 ? baseline["file"][0] : baseline["file"];
    j["baseline"] = baseline;
  }
  *out = std::move(j);
  return true;
}

int report_exit_code(const json& report) {
  const json& s = report.at("summary");
  if (s.value("incomplete", false) || s.value("errors", 0) > 0) return 3;
  return s.value("failed", 0) > 0 ? 1 : 0;
}

}  // namespace attn
