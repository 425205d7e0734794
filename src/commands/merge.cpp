#include "src/commands/merge.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "src/commands/common.hpp"
#include "src/json_strict.hpp"
#include "src/shard.hpp"

namespace attn {

void setup_merge(CLI::App& app, MergeOptions& opt) {
  app.add_option("reports", opt.inputs, "JSON reports written by run --json (e.g. one per --shard)")->required();
  setup_report_files(app, opt.reports);
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line");
}

int run_merge(const MergeOptions& opt) {
  std::vector<nlohmann::json> reports;
  for (const std::string& path : opt.inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: error: cannot read the report\n", path.c_str());
      return kExitUsage;
    }
    std::stringstream text;
    text << in.rdbuf();
    JsonError json_err;  // NUL bytes, duplicate keys (a second "cases" list), malformed
    if (auto doc = parse_json_strict(text.str(), &json_err)) reports.push_back(std::move(*doc));
    else {
      std::fprintf(stderr, "%s%s\n", json_err.format(path).c_str(),
                   json_err.note.empty() ? "\nnote: pass reports written by run --json" : "");
      return kExitUsage;
    }
  }
  if (!check_report_files(opt.reports)) return kExitUsage;
  nlohmann::json merged;
  std::string err;
  if (!merge_reports(reports, opt.inputs, &merged, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (!opt.quiet)
    for (const nlohmann::json& c : merged.at("cases")) {
      const std::string verdict = c.value("verdict", "");
      if (verdict == "pass") continue;
      const nlohmann::json& f = c.value("failures", nlohmann::json::array());
      std::printf("  %s: %s: %s\n", c.value("name", "").c_str(), verdict.c_str(),
                  (f.empty() ? c.value("error", std::string()) : f[0].get<std::string>()).c_str());
    }
  const nlohmann::json& s = merged.at("summary");
  std::string line = fmt::format("{}: {} cases, {} passed, {} failed", merged.value("suite", ""), s.value("cases", 0),
                                 s.value("passed", 0), s.value("failed", 0));
  if (s.value("errors", 0)) line += fmt::format(", {} errors", s.value("errors", 0));
  if (s.value("unsupported", 0)) line += fmt::format(", {} unsupported", s.value("unsupported", 0));
  std::printf("%s (merged from %zu reports)\n", line.c_str(), opt.inputs.size());
  std::fflush(stdout);
  if (!write_report_files(opt.reports, merged)) return kExitUsage;
  return report_exit_code(merged);
}

}  // namespace attn
