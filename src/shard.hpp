// Splitting a suite across CI jobs (`run --shard I/N`) and joining the jobs' JSON reports into one
// (`merge`). A case's shard depends only on its name, so adding, removing or reordering other
// cases never moves it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace attn {

struct Shard {
  int index = 1;  // 1-based
  int count = 1;
};

/// "I/N" with 1 <= I <= N; nullopt with a message otherwise.
std::optional<Shard> parse_shard(const std::string& text, std::string* err);

/// 64-bit FNV-1a: fixed by its definition, unlike std::hash, so shards agree between machines.
std::uint64_t fnv1a64(std::string_view s);

/// The shard (1-based) that runs the case: fnv1a64(name) % N + 1.
int shard_of(std::string_view case_name, int count);

/// Joins JSON reports v1 (`files` name them in messages): cases in input order, the summary
/// recounted from the verdicts. Refuses another schema, a case name twice in one suite, and
/// shards of one split that are missing or given twice.
bool merge_reports(const std::vector<nlohmann::json>& reports, const std::vector<std::string>& files,
                   nlohmann::json* out, std::string* err);

/// The exit code of a report's verdict, as `run` gives it: 3 with an error case, else 1 with a
/// failed case, else 0.
int report_exit_code(const nlohmann::json& report);

}  // namespace attn
