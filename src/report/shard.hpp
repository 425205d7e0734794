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

/// Joins the JSON reports v1 of the shards of one run (each checked by parse_report,
/// src/report/reader.hpp; `files` name them in messages): cases in input order, the summary
/// recounted, incomplete when any shard was. Refuses reports of different suites, versions or
/// runs (their `run` records: config digest, seed, candidate, case selection), of different
/// splits, a shard given twice or missing, and a case in a shard its name does not belong to.
/// Reports without a `run` record (older attn-diff) merge on their config path alone, with a
/// `warning` saying so.
bool merge_reports(const std::vector<nlohmann::json>& reports, const std::vector<std::string>& files,
                   nlohmann::json* out, std::string* err, std::string* warning = nullptr);

/// The exit code of a report's verdict, as `run` gives it on the whole: 3 when incomplete or with
/// an error case, else 1 with a failed case, else 0.
int report_exit_code(const nlohmann::json& report);

}  // namespace attn
