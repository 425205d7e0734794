#include "src/cli/merge.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "src/base/diagnostic.hpp"
#include "src/cli/common.hpp"
#include "src/report/reader.hpp"
#include "src/report/shard.hpp"

namespace attn {

void setup_merge(CLI::App& app, MergeOptions& opt) {
  app.add_option("reports", opt.inputs, "JSON reports written by run --json (e.g. one per --shard)")->required();
  setup_report_files(app, opt.reports);
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line");
}

int run_merge(const MergeOptions& opt) {
  // No output may overwrite an input; every input is read and checked before anything is written
  // (src/report/reader.hpp).
  std::vector<PathOption> inputs;
  for (const std::string& path : opt.inputs) inputs.push_back({"an input report", path});
  if (!check_report_files(opt.reports, inputs)) return kExitUsage;
  std::vector<nlohmann::json> reports(opt.inputs.size());
  std::string err, warning;
  for (std::size_t n = 0; n < opt.inputs.size(); ++n)
    if (!read_report_file(opt.inputs[n], &reports[n], &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return kExitUsage;
    }
  nlohmann::json merged;
  if (!merge_reports(reports, opt.inputs, &merged, &err, &warning)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
  if (!opt.quiet)
    for (const nlohmann::json& c : merged.at("cases")) {
      const std::string verdict = c.at("verdict").get<std::string>();
      if (verdict == "pass") continue;
      const nlohmann::json& f = c.value("failures", nlohmann::json::array());
      const std::string reason = f.empty() ? c.value("error", std::string()) : f[0].get<std::string>();
      std::printf("  %s: %s: %s\n", printable(c.at("name").get<std::string>()).c_str(), verdict.c_str(),
                  printable(reason).c_str());
    }
  const nlohmann::json& s = merged.at("summary");
  std::string line = fmt::format("{}: {} cases, {} passed, {} failed", printable(merged.at("suite").get<std::string>()),
                                 s.value("cases", 0), s.value("passed", 0), s.value("failed", 0));
  if (s.value("errors", 0)) line += fmt::format(", {} errors", s.value("errors", 0));
  if (s.value("unsupported", 0)) line += fmt::format(", {} unsupported", s.value("unsupported", 0));
  if (s.value("incomplete", false))
    line += fmt::format(", INCOMPLETE: a shard was interrupted, {} cases not run", s.value("not_run", 0));
  std::printf("%s (merged from %zu reports)\n", line.c_str(), opt.inputs.size());
  std::fflush(stdout);
  if (!write_report_files(opt.reports, merged)) return kExitRuntime;
  return report_exit_code(merged);
}

}  // namespace attn
