// `run --candidate-jobs N` (src/judge/case_jobs.hpp): N cases judged at once, each job with its own
// candidate, and the reports exactly those of a serial run apart from timings.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "src/judge/case_jobs.hpp"
#include "src/suite/config.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using attn::test::read_json;
using attn::test::run_cli;
using attn::test::without_timings;
using attn::test::TempDir;

namespace {

const std::string kCandidate = ATTN_DIFF_CANDIDATE;

// The table and diagnoses of a run's stdout without its "(1.23 s)" timings.
std::string without_times(std::string out) {
  std::string r;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '(' && out.find(" s)", i) != std::string::npos) {
      const std::size_t end = out.find(" s)", i);
      if (end - i < 16 && out.find_first_not_of("0123456789.", i + 1) == end) {
        i = end + 2;
        continue;
      }
    }
    r += out[i];
  }
  return r;
}

}  // namespace

TEST_CASE("candidate-jobs: the reports of a parallel run are those of the serial run", "[jobs][cli]") {
  TempDir dir("candidate_jobs");
  struct Candidate {
    const char* what;
    std::string args;
    int code;
  };
  // A mutant that fails every case and is diagnosed, and an external port bug attn-diff has no model
  // of (some cases fail, with a localisation), run by a separate process per case.
  const std::vector<Candidate> candidates = {
      {"a diagnosed mutant", "-c configs/phase2.json --mutant no_rescale --diagnose", 1},
      {"an external command", "-c configs/phase3.json --candidate-cmd '" + kCandidate +
                                  " bug:window_tile_start {inputs} {out}'", 1},
      {"a passing external command", "-c configs/phase2.json --candidate-cmd '" + kCandidate +
                                         " variant:split_kv {inputs} {out}'", 0}};
  for (const Candidate& c : candidates) {
    INFO(c.what);
    std::vector<nlohmann::json> reports;
    std::vector<std::string> outputs;
    for (int jobs : {1, 2, 3}) {
      const std::string json = (dir.path / ("r" + std::to_string(jobs) + ".json")).string();
      const auto r = run_cli("run " + c.args + " --threads 2 --candidate-jobs " + std::to_string(jobs) + " --json " + json);
      INFO(r.out);
      REQUIRE(r.code == c.code);
      reports.push_back(without_timings(read_json(json)));
      outputs.push_back(without_times(r.out));
    }
    REQUIRE(reports[0]["cases"].size() > 3);
    CHECK(reports[1] == reports[0]);
    CHECK(reports[2] == reports[0]);
    if (c.args.find("--candidate-cmd") == std::string::npos) {  // the table's "cmd s" column is a wall time
      CHECK(outputs[1] == outputs[0]);
      CHECK(outputs[2] == outputs[0]);
    }
    // The comparison can fail: it sees one changed metric.
    nlohmann::json edited = reports[0];
    edited["cases"][1]["metrics"]["vs_golden"]["max_abs"] = 1.0;
    CHECK(without_timings(edited) != reports[0]);
  }
}

TEST_CASE("candidate-jobs: N commands run at the same time", "[jobs][cli]") {
  // Each case's command waits for the other's to have started: they can only both finish when they
  // run at once. With one job the first gives up after its wait and the case is an error.
  TempDir dir("candidate_jobs_rendezvous");
  const auto run = [&](int jobs, int wait_tenths) {
    const std::filesystem::path met = dir.path / ("met" + std::to_string(jobs));
    std::filesystem::create_directories(met);
    const std::string cmd = "touch " + met.string() + "/$ATTN_DIFF_CASE; i=0; while [ $(ls " + met.string() +
                            " | wc -l) -lt 2 ] && [ $i -lt " + std::to_string(wait_tenths) +
                            " ]; do sleep 0.1; i=$((i+1)); done; [ $(ls " + met.string() + " | wc -l) -ge 2 ] || exit 7; " + kCandidate +
                            " correct {inputs} {out}";
    return run_cli("run -c configs/phase1.json --case 'basic*' --candidate-jobs " + std::to_string(jobs) +
                   " --timeout 120 --candidate-cmd '" + cmd + "'");
  };
  const auto together = run(2, 600);
  INFO(together.out);
  CHECK(together.code == 0);
  CHECK(together.out.find("2 cases, 2 passed, 0 failed") != std::string::npos);
  const auto alone = run(1, 10);
  INFO(alone.out);
  CHECK(alone.code == 3);
  CHECK(alone.out.find("exited with status 7") != std::string::npos);
}

TEST_CASE("candidate-jobs: the count is checked", "[jobs][cli]") {
  for (const char* bad : {"0", "65", "-1", "two"}) {
    INFO(bad);
    const auto r = run_cli(std::string("run -c configs/phase1.json --candidate-jobs ") + bad);
    CHECK(r.code == 2);
    CHECK(r.out.find("--candidate-jobs") != std::string::npos);
  }
  // More jobs than cases is not an error: the extra ones have nothing to do.
  CHECK(run_cli("run -c configs/phase1.json --case basic --candidate-jobs 8").code == 0);
}

TEST_CASE("candidate-jobs: results come back in the order given, and an error is rethrown", "[jobs]") {
  Diagnostics diags;
  Suite suite;
  REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/configs/phase1.json", {.threads = 1}, &suite, &diags));
  std::vector<const CaseSpec*> cases;
  for (const CaseSpec& c : suite.cases) cases.push_back(&c);
  CaseJobs jobs{.candidates = {tiled_candidate(1), tiled_candidate(1), tiled_candidate(1)}, .run = {.threads = 1}};
  std::vector<std::string> started;
  jobs.on_start = [&](std::size_t, const std::string& name) { started.push_back(name); };
  const CaseJobsResult done = run_case_jobs(cases, jobs);
  CHECK_FALSE(done.interrupted);
  REQUIRE(done.results.size() == cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    REQUIRE(done.results[i]);
    CHECK(done.results[i]->spec.name == cases[i]->name);
    CHECK(done.results[i]->verdict == Verdict::pass);
  }
  CHECK(started.size() == cases.size());

  Candidate throws = tiled_candidate(1);
  throws.produce = [](PreparedCase& p, std::vector<double>*, std::string*) -> bool {
    if (p.spec.name == "sinks") throw std::runtime_error("boom");
    return false;
  };
  jobs.candidates = {throws, throws};
  CHECK_THROWS_WITH(run_case_jobs(cases, jobs), "boom");
}
