// `attn-diff merge`: joins the JSON reports of the shards of one run into one report, writes it in
// any report format, and exits with the verdict of the whole (3 when a shard was interrupted).
// Every input is read and checked before anything is written (src/report/reader.hpp).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "src/cli/report_files.hpp"

namespace attn {

struct MergeOptions {
  std::vector<std::string> inputs;  // JSON reports v1
  ReportFiles reports;
  bool quiet = false;
};

void setup_merge(CLI::App& app, MergeOptions& opt);
int run_merge(const MergeOptions& opt);

}  // namespace attn
