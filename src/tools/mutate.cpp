#include "src/tools/mutate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>

#include "src/judge/coverage.hpp"
#include "src/judge/runner.hpp"

namespace attn {

KillMatrix kill_matrix(std::vector<const MutantInfo*> mutants, std::vector<const CaseSpec*> cases, int threads,
                       const std::function<void(std::size_t case_index)>& on_case) {
  KillMatrix km{.mutants = std::move(mutants), .cases = std::move(cases)};
  km.status.assign(km.mutants.size(), std::string(km.cases.size(), '.'));
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t ci = 0; ci < km.cases.size(); ++ci) {
    const CaseSpec& c = *km.cases[ci];
    if (on_case) on_case(ci);
    PreparedCase prep = prepare_case(c, threads);
    for (const std::string& path : prep.coverage) ++km.coverage[path];
    for (std::size_t mi = 0; mi < km.mutants.size(); ++mi) {
      const Candidate cand = mutant_candidate(*km.mutants[mi], threads);
      if (!unsupported_reason(c, cand).empty()) {
        km.status[mi][ci] = 'u';
        continue;
      }
      const CaseResult r = judge(prep, cand, {.threads = threads, .worst = 0, .breakdown = false});
      km.status[mi][ci] = r.verdict == Verdict::pass ? '.' : 'K';
    }
  }
  km.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return km;
}

std::string survivor_reason(const MutantInfo& m, const std::map<std::string, int>& coverage) {
  std::vector<std::string> missing;
  for (const std::string& need : m.needs)
    if (!coverage.count(need)) missing.push_back(need);
  std::string reason = missing.empty() ? "every case it needs is there but its error stayed within the gates"
                                       : fmt::format("no case covers {}", fmt::join(missing, ", "));
  for (const std::string& need : missing)
    for (const CoveragePath& p : coverage_paths())
      if (p.name == need) reason += fmt::format(" ({})", p.description);
  return reason;
}

std::vector<MutantOutcome> mutant_outcomes(const KillMatrix& matrix) {
  std::vector<MutantOutcome> outcomes;
  for (std::size_t mi = 0; mi < matrix.mutants.size(); ++mi) {
    const MutantInfo& m = *matrix.mutants[mi];
    MutantOutcome o{.name = m.name};
    for (std::size_t ci = 0; ci < matrix.cases.size(); ++ci)
      if (matrix.status[mi][ci] == 'K') o.killed_by.push_back(matrix.cases[ci]->name);
    const bool any_supported = matrix.status[mi].find_first_not_of('u') != std::string::npos;
    if (!o.killed_by.empty()) {
      o.status = "killed";
    } else if (!any_supported) {
      o.status = "unsupported";
    } else {
      o.status = "survived";
      o.reason = survivor_reason(m, matrix.coverage);
    }
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

MutationScore mutation_score(const std::vector<MutantOutcome>& outcomes) {
  MutationScore s;
  for (const MutantOutcome& o : outcomes) {
    s.killed += o.status == "killed";
    s.supported += o.status != "unsupported";
  }
  s.score = s.supported ? double(s.killed) / double(s.supported) : 0.0;
  return s;
}

std::vector<std::pair<std::string, int>> coverage_totals(const KillMatrix& matrix) {
  std::vector<std::pair<std::string, int>> totals;
  for (const CoveragePath& p : coverage_paths()) {
    const auto it = matrix.coverage.find(p.name);
    totals.emplace_back(p.name, it == matrix.coverage.end() ? 0 : it->second);
  }
  return totals;
}

nlohmann::json mutate_to_json(const std::vector<MutantOutcome>& outcomes, double score,
                              const std::vector<std::pair<std::string, int>>& coverage_totals, int cases) {
  nlohmann::json ms = nlohmann::json::array();
  for (const MutantOutcome& o : outcomes) {
    nlohmann::json m = {{"name", o.name}, {"status", o.status}, {"killed_by", o.killed_by}};
    if (!o.reason.empty()) m["reason"] = o.reason;
    ms.push_back(m);
  }
  nlohmann::json cov = nlohmann::json::object();
  for (const auto& [path, n] : coverage_totals) cov[path] = n;
  return {{"schema", "attn-diff.mutate.v1"}, {"score", score}, {"cases", cases}, {"mutants", ms}, {"coverage", cov}};
}

}  // namespace attn
