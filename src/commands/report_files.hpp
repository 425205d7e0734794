// The report files a command can write (--json, --junit, --md, --html), shared by run, compare
// and merge: one place for the options, the early check of their paths, and the atomic writes.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace attn {

struct ReportFiles {
  std::string json, junit, md, html;
};

void setup_report_files(CLI::App& app, ReportFiles& files);

/// Before a long run: every path given is not a folder and a file can be created beside it.
/// False after printing the problem (the command exits 2 without running anything).
bool check_report_files(const ReportFiles& files);

/// Writes every requested report from the JSON report v1, each through a temporary file and a
/// rename. False after printing the first failure.
bool write_report_files(const ReportFiles& files, const nlohmann::json& report);

}  // namespace attn
