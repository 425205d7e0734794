#include "src/cli/report_files.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <functional>

#include "src/base/fileio.hpp"
#include "src/base/interrupt.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/report/formats.hpp"
#include "src/report/table.hpp"

namespace attn {

namespace {

struct Format {
  const char* option;
  std::string ReportFiles::*path;
  std::function<std::string(const nlohmann::json&)> render;
};

const std::vector<Format>& formats() {
  static const std::vector<Format> table = {
      {"--json", &ReportFiles::json, [](const nlohmann::json& r) { return r.dump(2) + "\n"; }},
      {"--junit", &ReportFiles::junit, render_junit},
      {"--md", &ReportFiles::md, render_markdown},
      {"--html", &ReportFiles::html, render_html},
  };
  return table;
}

}  // namespace

void setup_report_files(CLI::App& app, ReportFiles& files) {
  app.add_option("--json", files.json, "write the JSON report v1 to this file");
  app.add_option("--junit", files.junit, "write JUnit XML (one testcase per case) to this file");
  app.add_option("--md", files.md, "write a Markdown summary (pull-request comment, CI step summary) to this file");
  app.add_option("--html", files.html, "write a self-contained HTML report with heatmaps to this file");
}

std::vector<PathOption> report_outputs(const ReportFiles& files) {
  std::vector<PathOption> out;
  for (const Format& f : formats())
    if (!(files.*f.path).empty()) out.push_back({f.option, files.*f.path});
  return out;
}

bool check_report_files(const ReportFiles& files, const std::vector<PathOption>& inputs,
                        const std::vector<PathOption>& more_outputs) {
  std::vector<PathOption> outputs = report_outputs(files);
  outputs.insert(outputs.end(), more_outputs.begin(), more_outputs.end());
  return check_output_paths(inputs, outputs);
}

bool write_report_files(const ReportFiles& files, const nlohmann::json& report) {
  // Every report rendered before the first is written: a writer that fails leaves no file behind.
  std::vector<std::pair<std::string, std::string>> rendered;  // path, content
  for (const Format& f : formats())
    if (!(files.*f.path).empty()) rendered.emplace_back(files.*f.path, f.render(report));
  for (const auto& [path, content] : rendered) {
    std::string err;
    if (!write_file_atomic(path, content, &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return false;
    }
  }
  return true;
}

int finish_run_report(const RunReport& report, const ReportFiles& files, bool quiet, bool no_color,
                      std::chrono::steady_clock::time_point start, std::size_t selected, const char* done_word) {
  const bool color = use_color(no_color);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fputs((quiet ? render_case_lines(report, false) : render_table(report, color)).c_str(), stdout);
  std::fputs(render_report_diagnoses(report.cases).c_str(), stdout);
  std::fputs(render_summary(report, color, seconds).c_str(), stdout);
  std::fflush(stdout);
  if (!write_report_files(files, report_to_json(report))) return kExitRuntime;
  if (report.incomplete) {
    std::fprintf(stderr, "attn-diff: interrupted: %zu of %zu cases %s; the reports cover those only\n",
                 report.cases.size(), selected, done_word);
    return kExitInterrupted + interrupt_signal();
  }
  if (report.errors()) return kExitRuntime;
  return report.failed() ? kExitFail : kExitPass;
}

}  // namespace attn
