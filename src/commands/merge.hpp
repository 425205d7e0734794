// `attn-diff merge`: joins the JSON reports of a sharded run (or of several suites) into one
// report, writes it in any report format, and exits with the verdict of the whole.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/commands/report_files.hpp"

namespace attn {

struct MergeOptions {
  std::vector<std::string> inputs;  // JSON reports v1
  ReportFiles reports;
  bool quiet = false;
};

void setup_merge(CLI::App& app, MergeOptions& opt);
int run_merge(const MergeOptions& opt);

}  // namespace attn
