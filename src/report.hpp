// The result of a whole run, and the JSON report v1 (SPEC §8) that renders it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/runner.hpp"

namespace attn {

struct RunReport {
  std::string suite;
  std::string config_file;
  std::vector<CaseResult> cases;

  int passed() const;
  int failed() const;
  int errors() const;       // error verdicts
  int unsupported() const;
};

nlohmann::json metrics_to_json(const Metrics& m);
nlohmann::json case_to_json(const CaseResult& r);
nlohmann::json report_to_json(const RunReport& r);

/// Writes `content` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a report. Returns false with a message on failure.
bool write_file_atomic(const std::string& path, const std::string& content, std::string* err);

}  // namespace attn
