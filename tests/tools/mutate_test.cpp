// src/tools/mutate.hpp on kill matrices written by hand, so every outcome and the score are known
// by construction; kill_matrix() itself on one real case with two real mutants.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "src/judge/coverage.hpp"
#include "src/suite/config.hpp"
#include "src/tools/mutate.hpp"

using namespace attn;

namespace {

CaseSpec named(const std::string& name) {
  CaseSpec c;
  c.name = name;
  return c;
}

MutantInfo mutant(const std::string& name, std::vector<std::string> needs = {}) {
  return MutantInfo{.name = name, .description = "", .fault = {}, .needs = std::move(needs), .only_recipe = ""};
}

}  // namespace

TEST_CASE("mutant outcomes and the score follow from the kill matrix", "[mutate]") {
  const CaseSpec a = named("a"), b = named("b"), c = named("c");
  const std::string covered = coverage_paths().at(0).name, uncovered = coverage_paths().at(1).name;
  const MutantInfo killed = mutant("killed"), survived_gates = mutant("survived_gates", {covered}),
                   survived_coverage = mutant("survived_coverage", {covered, uncovered}), unsupported = mutant("unsupported");
  KillMatrix km{.mutants = {&killed, &survived_gates, &survived_coverage, &unsupported},
                .cases = {&a, &b, &c},
                .status = {"K.K", ".u.", "...", "uuu"},
                .coverage = {{covered, 2}}};
  const std::vector<MutantOutcome> o = mutant_outcomes(km);
  REQUIRE(o.size() == 4);
  CHECK(o[0].status == "killed");
  CHECK(o[0].killed_by == std::vector<std::string>{"a", "c"});
  CHECK(o[0].reason.empty());
  CHECK(o[1].status == "survived");
  CHECK(o[1].reason == "every case it needs is there but its error stayed within the gates");
  CHECK(o[2].status == "survived");
  CHECK(o[2].reason == "no case covers " + uncovered + " (" + coverage_paths().at(1).description + ")");
  CHECK(o[3].status == "unsupported");
  CHECK(o[3].killed_by.empty());

  const MutationScore s = mutation_score(o);
  CHECK(s.killed == 1);
  CHECK(s.supported == 3);  // the unsupported mutant does not count
  CHECK(s.score == Approx(1.0 / 3.0));

  const std::vector<std::pair<std::string, int>> totals = coverage_totals(km);
  REQUIRE(totals.size() == coverage_paths().size());
  CHECK(totals[0] == std::pair<std::string, int>{covered, 2});
  CHECK(totals[1] == std::pair<std::string, int>{uncovered, 0});

  const nlohmann::json j = mutate_to_json(o, s.score, totals, 3);
  CHECK(j.at("schema") == "attn-diff.mutate.v1");
  CHECK(j.at("cases") == 3);
  CHECK(j.at("mutants").size() == 4);
  CHECK(j.at("mutants")[0].at("killed_by") == nlohmann::json({"a", "c"}));
  CHECK(!j.at("mutants")[0].contains("reason"));  // only survivors say why
  CHECK(j.at("mutants")[2].at("reason") == o[2].reason);
  CHECK(j.at("coverage").at(uncovered) == 0);
}

TEST_CASE("a matrix with no supported mutant scores 0, not a division by zero", "[mutate]") {
  const CaseSpec a = named("a");
  const MutantInfo m = mutant("m");
  const MutationScore s = mutation_score(mutant_outcomes({.mutants = {&m}, .cases = {&a}, .status = {"u"}}));
  CHECK(s.killed == 0);
  CHECK(s.supported == 0);
  CHECK(s.score == 0.0);
}

TEST_CASE("kill_matrix judges every mutant on every case and reports each case before it runs", "[mutate]") {
  Suite suite;
  Diagnostics diags;
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {.threads = 1}, &suite, &diags));
  const CaseSpec* basic = nullptr;
  for (const CaseSpec& c : suite.cases)
    if (c.name == "basic") basic = &c;
  REQUIRE(basic);
  // no_scale changes every score of any case; window_off_by_one needs a window, which basic has not.
  const MutantInfo* no_scale = find_mutant("no_scale");
  const MutantInfo* window = find_mutant("window_off_by_one");
  REQUIRE(no_scale);
  REQUIRE(window);
  std::vector<std::size_t> seen;
  const KillMatrix km = kill_matrix({no_scale, window}, {basic}, 1, [&](std::size_t i) { seen.push_back(i); });
  CHECK(seen == std::vector<std::size_t>{0});
  REQUIRE(km.status.size() == 2);
  CHECK(km.status[0] == "K");
  CHECK(km.status[1] == ".");
  const std::vector<MutantOutcome> o = mutant_outcomes(km);
  CHECK(o[0].killed_by == std::vector<std::string>{"basic"});
  CHECK(o[1].status == "survived");
}
