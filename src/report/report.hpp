// The result of a whole run, and the JSON report v1 (SPEC §8) that renders it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/base/fileio.hpp"
#include "src/judge/runner.hpp"

namespace attn {

struct RunReport {
  std::string suite;
  std::string config_file;
  std::vector<CaseResult> cases;
  bool incomplete = false;  // interrupted: `cases` holds only the cases finished before the signal
  std::int64_t not_run = 0;  // selected cases an interruption left out
  std::string shard;          // "I/N" when the run was one shard of the suite (src/report/shard.hpp)
  // What the run was, so `merge` can tell the shards of one run from reports of another (the
  // report's "run" object; null: not written): config_digest (fnv1a64 of the config file's bytes),
  // seed (--seed, or null), candidate (the kernel: "tiled", "mutant:NAME", "external"),
  // candidate_cmd, layout, bf16_bits and timeout for an external one, and cases (the --case globs).
  nlohmann::json run;
  // With --baseline (src/report/baseline.hpp): the baseline report, the cases it lacks and the cases of
  // the suite it has that are gone.
  struct Baseline {
    std::string file;
    std::vector<std::string> new_cases, vanished_cases;
  };
  std::optional<Baseline> baseline;

  int passed() const;
  int failed() const;
  int errors() const;       // error verdicts
  int unsupported() const;
};

nlohmann::json metrics_to_json(const Metrics& m);
/// [{"name", "bound", "value", "pass", "note"}], as a case's "gates" and each backward tensor's.
nlohmann::json gates_to_json(const std::vector<GateResult>& gates);
nlohmann::json case_to_json(const CaseResult& r);
/// The v1 report. Every writer but the table renders this JSON (src/report_html.hpp, ...), so a
/// report `merge` joined from shards renders exactly as a report of one run.
nlohmann::json report_to_json(const RunReport& r);

}  // namespace attn
