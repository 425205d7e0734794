#include "src/commands/merge.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "src/commands/common.hpp"
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
    reports.push_back(nlohmann::json::parse(text.str(), nullptr, false));
    if (reports.back().is_discarded()) {
      std::fprintf(stderr, "%s: error: not valid JSON\nnote: pass reports written by run --json\n", path.c_str());
      return kExitUsage;
    }
  }
  std::vector<PathOption> inputs;
  for (const std::string& path : opt.inputs) inputs.push_back({"an input report", path});
  if (!check_report_files(opt.reports, inputs)) return kExitUsage;
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
  if (!write_report_files(opt.reports, merged)) return kExitRuntime;
  return report_exit_code(merged);
}

}  // namespace attn
