#include "src/commands/report_files.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "src/fileio.hpp"
#include "src/report_formats.hpp"

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

bool check_report_files(const ReportFiles& files) {
  namespace fs = std::filesystem;
  for (const Format& f : formats()) {
    const std::string& path = files.*f.path;
    if (path.empty()) continue;
    std::error_code ec;
    const fs::path p(path);
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::string why;
    if (fs::is_directory(p, ec)) why = "is a directory, not a file";
    else if (!fs::is_directory(dir, ec)) why = fmt::format("folder '{}' does not exist", dir.string());
    if (!why.empty()) {
      std::fprintf(stderr, "%s: error: %s (%s)\n", path.c_str(), why.c_str(), f.option);
      return false;
    }
  }
  return true;
}

bool write_report_files(const ReportFiles& files, const nlohmann::json& report) {
  for (const Format& f : formats()) {
    const std::string& path = files.*f.path;
    if (path.empty()) continue;
    std::string err;
    if (!write_file_atomic(path, f.render(report), &err)) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace attn
