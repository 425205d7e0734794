// The result of a whole run, and the JSON report v1 (SPEC §8) that renders it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/fileio.hpp"
#include "src/runner.hpp"

namespace attn {

struct RunReport {
  std::string suite;
  std::string config_file;
  std::vector<CaseResult> cases;
  bool incomplete = false;  // interrupted: `cases` holds only the cases finished before the signal
  std::int64_t not_run = 0;  // selected cases an interruption left out

  int passed() const;
  int failed() const;
  int errors() const;       // error verdicts
  int unsupported() const;
};

nlohmann::json metrics_to_json(const Metrics& m);
nlohmann::json case_to_json(const CaseResult& r);
nlohmann::json report_to_json(const RunReport& r);

}  // namespace attn
