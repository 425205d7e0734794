// The report files a command can write (--json, --junit, --md, --html), shared by run, compare
// and merge: one place for the options, the early check of their paths, and the atomic writes.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "src/cli/common.hpp"
#include "src/report/report.hpp"

namespace attn {

struct ReportFiles {
  std::string json, junit, md, html;
};

void setup_report_files(CLI::App& app, ReportFiles& files);

/// The report paths given, each with its option, for check_output_paths (src/cli/common.hpp).
std::vector<PathOption> report_outputs(const ReportFiles& files);

/// Before a long run: check_output_paths of the reports (plus `more_outputs`) against `inputs`:
/// no report overwrites an input or another output, and each can be written. False after printing
/// the problem (the command exits 2 without running anything).
bool check_report_files(const ReportFiles& files, const std::vector<PathOption>& inputs,
                        const std::vector<PathOption>& more_outputs = {});

/// Writes every requested report from the JSON report v1 (write_file_atomic). False after printing
/// the first failure: the command exits 3, its verdict already printed.
bool write_report_files(const ReportFiles& files, const nlohmann::json& report);

/// The end of `run` and `compare`: prints the table (the case lines with `quiet`), the diagnoses and
/// the summary line (`start`: when the command started), writes the reports, and returns the exit
/// code: 3 when a report cannot be written, 128 + the signal for an interrupted run (after saying
/// how many of the `selected` cases were `done_word`, e.g. "run"), 3 with an error case, 1 with a
/// failure, else 0.
int finish_run_report(const RunReport& report, const ReportFiles& files, bool quiet, bool no_color,
                      std::chrono::steady_clock::time_point start, std::size_t selected, const char* done_word);

}  // namespace attn
