// One diagnosis verdict, the same in every output (issue 14): a hypothesis explains a failure only
// when the candidate is within a correct kernel's error of its prediction (score >= 0.5, in RMS and
// in max_abs); below that every output (run/compare table, diagnose text and --json, Markdown,
// JUnit, HTML, the JSON report) says "no built-in hypothesis explains this" and names the nearest
// only as such; a failure is never "most likely: precision"; and a mutant whose output is the
// correct kernel's on the case is not applicable, with the reason.
//
// The candidates are crafted here, from attn-diff's own inputs: golden of a bug attn-diff has no
// model of (V rows shifted by one key, the sink scaled by 1/sqrt(D)), golden plus structured noise
// of a known multiple of the precision envelope, or a built-in mutant through the stand-in helper.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>

#include "kernels/golden.hpp"
#include "kernels/mutants.hpp"
#include "src/io/npy.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/suite/config.hpp"
#include "tests/cli_helpers.hpp"

using namespace attn;
using namespace attn::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using json = nlohmann::json;

namespace {

const std::string kHelper = ATTN_DIFF_CANDIDATE;
const std::string kUnexplained = "no built-in hypothesis explains this";

// An XPath 1.0 expression evaluated by xmllint on the file (as tests/report/report_formats_test.cpp).
std::string xpath(const std::string& file, const std::string& expr) {
  const auto r = run_command("xmllint --xpath \"" + expr + "\" '" + file + "'");
  REQUIRE(r.code == 0);
  return r.out;
}

CaseSpec load_case(const std::string& config, const std::string& name) {
  Suite s;
  Diagnostics d;
  const std::string path = config.starts_with("/") ? config : std::string(ATTN_DIFF_SOURCE_DIR) + "/" + config;
  REQUIRE(load_suite(path, {}, &s, &d));
  for (const CaseSpec& c : s.cases)
    if (c.name == name) return c;
  FAIL("no case " << name << " in " << config);
  return {};
}

// Golden of the case computed on inputs changed by `edit` (a bug attn-diff has no model of).
std::vector<double> golden_of(const CaseSpec& c, const PreparedCase& p, const std::function<void(Inputs&)>& edit) {
  Inputs in = p.inputs;
  edit(in);
  std::vector<double> out(c.problem.shape.q_elements());
  golden_attention(c.problem, in, out, 2);
  return out;
}

// V rows shifted by one key: the value of key j+1 is read for key j (the last key reads key 0).
void shift_v_rows(const CaseSpec& c, Inputs& in) {
  const Shape& s = c.problem.shape;
  const std::int64_t row = s.kv_heads * s.head_dim;
  const std::vector<float> v = in.v;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t j = 0; j < s.kv_tokens; ++j)
      std::copy_n(v.begin() + (b * s.kv_tokens + (j + 1) % s.kv_tokens) * row, row,
                  in.v.begin() + (b * s.kv_tokens + j) * row);
}

// Golden plus structured noise whose largest element is `times` the precision envelope, on every
// `stride`-th element (1: dense; sparse noise stays small in RMS).
std::vector<double> noisy_golden(const PreparedCase& p, double envelope, double times, std::size_t stride) {
  std::vector<double> out = p.golden;
  for (std::size_t n = 0; n < out.size(); n += stride)
    out[n] += times * envelope * std::sin(0.37 * double(n)) * double(n % 7 + 1) / 7.0;
  out[out.size() / 2] = p.golden[out.size() / 2] + times * envelope;  // the largest error, exactly
  return out;
}

void write_candidate(const CaseSpec& c, const std::vector<double>& out, const std::string& path) {
  const Shape& s = c.problem.shape;
  const std::vector<float> f(out.begin(), out.end());
  std::string err;
  REQUIRE(write_npy_f32(path, {s.batch, s.tokens, s.heads, s.head_dim}, f, &err));
}

// Every output of one compare: stdout (the table and its diagnosis block) and the four reports.
struct Outputs {
  CliResult cli;
  std::string md, junit_failure, html;
  json report;
};

const std::string kReportFlags = " --md {d}/r.md --junit {d}/r.xml --html {d}/r.html --json {d}/r.json";

Outputs outputs_of(const std::string& args, const TempDir& dir) {
  Outputs o;
  const std::string d = dir.path.string();
  o.cli = run_cli(args + fmt::format(fmt::runtime(kReportFlags), fmt::arg("d", d)));
  o.md = read_text(d + "/r.md");
  o.junit_failure = xpath(d + "/r.xml", "string(//testcase[@name='sinks']/failure)");
  o.html = read_text(d + "/r.html");
  o.report = read_json(d + "/r.json");
  return o;
}

// The unexplained verdict in every output, the nearest hypothesis named only as nearest.
void check_unexplained(const Outputs& o) {
  INFO(o.cli.out);
  CHECK(o.cli.code == 1);
  CHECK_THAT(o.cli.out, Contains("diagnosis of sinks:\n  " + kUnexplained + "; nearest: "));
  CHECK_THAT(o.cli.out, !Contains("most likely"));
  CHECK_THAT(o.cli.out, !Contains("  1. "));  // no ranking that would read as a list of causes
  CHECK_THAT(o.md, Contains(kUnexplained + "; nearest: `"));
  CHECK_THAT(o.md, !Contains("most likely"));
  CHECK_THAT(o.junit_failure, Contains(kUnexplained + "; nearest: "));
  CHECK_THAT(o.junit_failure, !Contains("most likely"));
  CHECK_THAT(o.html, Contains("<h3>Diagnosis</h3><p class=\"verdict\">" + kUnexplained + "; nearest: "));
  CHECK_THAT(o.html, !Contains("most likely"));
  const json& c = o.report["cases"][0];
  CHECK(c["verdict"] == "fail");
  CHECK(c["diagnosis"]["verdict"] == "unexplained");
  CHECK(c["diagnosis"]["hypotheses"].size() == 1 + attn::mutants().size() + 4);  // precision, every mutant, 4 layout mix-ups: all still there
}

void check_explained(const Outputs& o, const std::string& name) {
  INFO(o.cli.out);
  CHECK(o.cli.code == 1);
  CHECK_THAT(o.cli.out, Contains("diagnosis of sinks:\n  1. " + name));
  CHECK_THAT(o.cli.out, Contains("  most likely: " + name + "\n"));
  CHECK_THAT(o.md, Contains("most likely: `" + name + "`"));
  CHECK_THAT(o.junit_failure, Contains("most likely: " + name + " ("));
  CHECK_THAT(o.html, Contains("<p class=\"verdict\">most likely: " + name + "</p>"));
  CHECK_THAT(o.html + o.md + o.junit_failure + o.cli.out, !Contains(kUnexplained));
  CHECK(o.report["cases"][0]["diagnosis"]["verdict"] == name);
}

struct Diagnosed {
  CliResult cli;
  json j;
};

Diagnosed diagnose_cli(const std::string& inputs, const std::string& candidate, const TempDir& dir) {
  const std::string js = dir.file("h.json");
  Diagnosed d{run_cli("diagnose --inputs " + inputs + " --candidate " + candidate + " --json " + js), {}};
  REQUIRE(d.cli.code == 0);
  d.j = read_json(js);
  return d;
}

std::string last_line(const std::string& s) {
  const std::string t = s.ends_with("\n") ? s.substr(0, s.size() - 1) : s;
  return t.substr(t.rfind('\n') + 1);
}

const json& hypothesis(const json& j, const std::string& name) {
  for (const json& h : j["hypotheses"])
    if (h["name"] == name) return h;
  FAIL("no hypothesis " << name);
  return j;
}

}  // namespace

TEST_CASE("diagnosis verdict: a bug attn-diff has no model of is unexplained in every output", "[diagnosis][cli]") {
  TempDir dir("diag_verdict_unexplained");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case sinks --out " + d).code == 0);
  const CaseSpec c = load_case("configs/phase1.json", "sinks");
  PreparedCase p = prepare_case(c, 2);
  const std::string out = dir.file("shifted.npy");
  write_candidate(c, golden_of(c, p, [&](Inputs& in) { shift_v_rows(c, in); }), out);

  SECTION("compare: table, Markdown, JUnit, HTML, JSON") {
    check_unexplained(outputs_of("compare --inputs " + d + " --candidate " + out, dir));
  }
  SECTION("run --candidate-cmd: the same") {
    check_unexplained(outputs_of("run -c configs/phase1.json --case sinks --candidate-cmd \"cp '" + out + "' {out}\"", dir));
  }
  SECTION("diagnose: text and --json") {
    const Diagnosed r = diagnose_cli(d, out, dir);
    INFO(r.cli.out);
    CHECK_THAT(last_line(r.cli.out), StartsWith(kUnexplained + "; nearest: "));
    CHECK_THAT(r.cli.out, !Contains("most likely"));
    CHECK(r.j["verdict"] == "fail");
    CHECK(r.j["diagnosis"] == "unexplained");
    CHECK(r.j["hypotheses"][0]["score"].get<double>() < kExplainsScore);
  }
}

TEST_CASE("diagnosis verdict: a built-in mutant reads 'most likely: no_sinks' in every output", "[diagnosis][cli]") {
  TempDir dir("diag_verdict_mutant");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase1.json --case sinks --out " + d).code == 0);
  const std::string out = dir.file("o.npy");
  REQUIRE(attn::test::run_stand_in("mutant:no_sinks " + d + " " + out) == 0);

  SECTION("compare") { check_explained(outputs_of("compare --inputs " + d + " --candidate " + out, dir), "no_sinks"); }
  SECTION("run --mutant --diagnose") {
    check_explained(outputs_of("run -c configs/phase1.json --case sinks --mutant no_sinks --diagnose", dir), "no_sinks");
  }
  SECTION("run --candidate-cmd") {
    check_explained(outputs_of("run -c configs/phase1.json --case sinks --candidate-cmd \"'" + kHelper +
                                   "' mutant:no_sinks {inputs} {out}\"",
                               dir),
                    "no_sinks");
  }
  SECTION("diagnose") {
    const Diagnosed r = diagnose_cli(d, out, dir);
    CHECK(last_line(r.cli.out) == "most likely: no_sinks: the learned sink logit is ignored");
    CHECK(r.j["diagnosis"] == "no_sinks");
  }
}

TEST_CASE("diagnosis verdict: a mutant identical to the correct kernel on the case is not applicable", "[diagnosis][cli]") {
  TempDir dir("diag_verdict_na");
  const std::string reason =
      "not applicable: its output is identical to the correct kernel's on this case (the case has no sliding window "
      "that hides keys a row would otherwise see), so it cannot explain a failure here";

  SECTION("phase1 sinks (causal, no window)") {
    const std::string d = (dir.path / "d").string();
    REQUIRE(run_cli("dump -c configs/phase1.json --case sinks --out " + d).code == 0);
    REQUIRE(attn::test::run_stand_in("mutant:no_sinks " + d + " " + dir.file("o.npy")) == 0);
    const Diagnosed r = diagnose_cli(d, dir.file("o.npy"), dir);
    CHECK(hypothesis(r.j, "window_off_by_one")["evidence"] == reason);
    CHECK(hypothesis(r.j, "window_off_by_one")["score"] == 0.0);
    CHECK_THAT(hypothesis(r.j, "gqa_interleaved")["evidence"].get<std::string>(),
               Contains("identical to the correct kernel's on this case (the case has no GQA with q_mult > 1"));
  }
  SECTION("gates the correct kernel itself fails (fp32, a max_abs below its rounding): no window mutant 'matches' it") {
    // ggml's kernel on phase3 large_magnitude with the recipe set to fp32 was "most likely:
    // window_off_by_one": seven mutants identical to the correct kernel scored 1 against a candidate
    // as close to golden as the correct kernel. The same situation, made certain by a max_abs bound
    // no fp32 kernel meets (a tight tolerance would not do: min_pass_rate is never stricter than
    // what the eager reference reaches).
    const std::string config = dir.file(
        "tight.json", R"({"suite": "tight", "defaults": {"precision": "fp32", "head_dim": 64, "seed": 0},
          "cases": [{"name": "sinks", "tokens": 64, "heads": 4, "causal": true, "sinks": {"dist": "normal", "std": 4.0},
                     "inputs": {"dist": "normal", "std": 4.0}, "tiles": {"q": 16, "kv": 32},
                     "tolerance": {"atol": 1e-7, "rtol": 0}, "gates": {"max_abs": 1e-7}}]})");
    const std::string d = (dir.path / "d").string();
    REQUIRE(run_cli("dump -c " + config + " --case sinks --out " + d).code == 0);
    const std::string out = dir.file("o.npy");
    REQUIRE(attn::test::run_stand_in("correct " + d + " " + out) == 0);
    const Diagnosed r = diagnose_cli(d, out, dir);
    INFO(r.cli.out);
    CHECK(r.j["verdict"] == "fail");  // the gates are too tight for any fp32 kernel
    CHECK(r.j["diagnosis"] == "unexplained");
    CHECK_THAT(last_line(r.cli.out), StartsWith(kUnexplained + "; nearest: precision (score "));
    CHECK(hypothesis(r.j, "window_off_by_one")["evidence"] == reason);
    for (const char* m : {"gqa_interleaved", "kv_tail_dropped", "q_tail_dropped", "prefix_skipped", "tile_skip_off_by_one"})
      CHECK_THAT(hypothesis(r.j, m)["evidence"].get<std::string>(),
                 StartsWith("not applicable: its output is identical to the correct kernel's on this case"));
    const Outputs o = outputs_of("compare --inputs " + d + " --candidate " + out, dir);
    CHECK(o.report["cases"][0]["diagnosis"]["verdict"] == "unexplained");
    CHECK_THAT(o.md, !Contains("most likely"));
  }
}

TEST_CASE("diagnosis verdict: a failing case is never 'most likely: precision'", "[diagnosis][cli]") {
  TempDir dir("diag_verdict_precision");
  // Within the precision envelope (0.8x, on a few elements: precision scores above 0.5) but failing
  // tight gates; and 1.6x the envelope (the issue's "1.2-2.1x": more than rounding explains) on
  // every element, failing the shipped gates.
  const std::string tight = dir.file(
      "tight.json", R"({"suite": "tight", "defaults": {"head_dim": 64, "seed": 0, "precision": "bf16-mixed",
        "tiles": {"q": 128, "kv": 2048}},
        "cases": [{"name": "sinks", "tokens": 8, "heads": 2, "sinks": {"dist": "normal", "std": 1.0},
                   "tolerance": {"atol": 1e-3, "rtol": 0}, "gates": {"max_abs": 1e-6}}]})");
  struct Noise {
    std::string config;
    double times;
    std::size_t stride;
  };
  for (const auto& [config, times, stride] : std::vector<Noise>{{tight, 0.8, 64}, {"configs/phase1.json", 1.6, 1}}) {
    DYNAMIC_SECTION(config << ", noise " << times << "x the envelope") {
      const std::string d = (dir.path / "d").string();
      REQUIRE(run_cli("dump -c " + config + " --case sinks --out " + d).code == 0);
      const CaseSpec c = load_case(config, "sinks");
      PreparedCase p = prepare_case(c, 2);
      const DiagnosisContext ctx = build_diagnosis_context(p, Layout::bshd, 2);
      const std::string out = dir.file("noisy.npy");
      write_candidate(c, noisy_golden(p, ctx.envelope, times, stride), out);

      const Outputs o = outputs_of("compare --inputs " + d + " --candidate " + out, dir);
      check_unexplained(o);
      CHECK_THAT(o.cli.out, Contains(kUnexplained + "; nearest: precision (score "));
      const double score = o.report["cases"][0]["diagnosis"]["hypotheses"][0]["score"];
      CHECK(o.report["cases"][0]["diagnosis"]["hypotheses"][0]["name"] == "precision");
      if (times < 1) CHECK(score == Approx(1.0 / (1.0 + times)).epsilon(0.01));  // above kExplainsScore: not the verdict
      else CHECK(score < kExplainsScore);
      const Diagnosed r = diagnose_cli(d, out, dir);
      CHECK_THAT(last_line(r.cli.out), StartsWith(kUnexplained + "; nearest: precision (score "));
      CHECK(r.j["diagnosis"] == "unexplained");
    }
  }
}

TEST_CASE("diagnosis verdict: a sink scaled by 1/sqrt(D) is near no_sinks but not explained by it", "[diagnosis]") {
  // A port bug attn-diff has no model of: the sink logit goes through the softmax scale. On rows
  // with many keys its output is close to no_sinks' on average, yet far from it on rows with few.
  int failing = 0;
  for (const char* config : {"configs/phase1.json", "configs/phase2.json", "configs/phase3.json"}) {
    Suite s;
    Diagnostics d;
    REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/" + config, {}, &s, &d));
    for (const CaseSpec& c : s.cases) {
      if (!c.problem.has_sinks || c.recipe.scaled_input()) continue;
      PreparedCase p = prepare_case(c, 2);
      const std::vector<double> out = golden_of(c, p, [&](Inputs& in) {
        for (float& x : in.sinks) x = float(x / std::sqrt(double(c.problem.shape.head_dim)));
      });
      const CaseResult r = judge(p, {.kernel = "sink_scaled", .is_expected = false,
                                     .produce = [&](PreparedCase&, std::vector<double>* o, std::string*) {
                                       *o = out;
                                       return true;
                                     }},
                                 {.threads = 2, .worst = 0});
      if (r.verdict != Verdict::fail) continue;
      ++failing;
      const std::vector<Hypothesis> h = diagnose_case(p, out, Layout::bshd, 2);
      const DiagnosisVerdict v = diagnosis_verdict(h, true);
      INFO(c.name << ": top " << h[0].name << " " << h[0].score << ": " << h[0].evidence);
      // combo_full_bf16-mixed (queries after a 136-key prefix: every row sees 137 to 200 keys) is the
      // closest: there the scaled sink is within 0.21 of the envelope of no_sinks in max_abs, and 0.86 of two
      // correct kernels' RMS error; no_sinks scored 0.536 when that was the RMS unit. It scores
      // 0.480 with the prediction's own rounding plus one correct kernel's.
      CHECK(v.name() == "unexplained");
    }
  }
  CHECK(failing > 5);
}

TEST_CASE("diagnosis verdict: close to no_sinks on average but not on every row is not no_sinks", "[diagnosis][cli]") {
  // A kernel that forgets the sink on every row but one (B=2 x Sq=96 x H=8 rows): its RMS distance
  // from no_sinks' output is far below a correct kernel's error, its max_abs distance is not. The
  // score takes the larger, so no_sinks does not explain it (before: "1. no_sinks 0.742").
  TempDir dir("diag_verdict_near");
  const std::string d = (dir.path / "d").string();
  REQUIRE(run_cli("dump -c configs/phase2.json --case combo_bf16-mixed --out " + d).code == 0);
  const CaseSpec c = load_case("configs/phase2.json", "combo_bf16-mixed");
  PreparedCase p = prepare_case(c, 2);
  const DiagnosisContext ctx = build_diagnosis_context(p, Layout::bshd, 2);
  std::vector<double> out;
  std::string err;
  REQUIRE(mutant_candidate(*find_mutant("no_sinks"), 2).produce(p, &out, &err));
  // The row where the sink matters most gets it right.
  const std::int64_t D = c.problem.shape.head_dim;
  std::size_t row = 0;
  double most = 0;
  for (std::size_t r = 0; r * D < out.size(); ++r)
    for (std::int64_t e = 0; e < D; ++e)
      if (std::abs(out[r * D + e] - p.golden[r * D + e]) > most) most = std::abs(out[r * D + e] - p.golden[r * D + e]), row = r;
  REQUIRE(most > 1.5 * ctx.envelope);  // a real difference on that row
  std::copy_n(p.golden.begin() + row * D, D, out.begin() + row * D);
  write_candidate(c, out, dir.file("o.npy"));
  const auto r = run_cli("compare --inputs " + d + " --candidate " + dir.file("o.npy") + " --json " + dir.file("r.json"));
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Contains("diagnosis of combo_bf16-mixed:\n  " + kUnexplained + "; nearest: "));
  CHECK_THAT(r.out, Contains("no_sinks (score 0.3"));  // d = max_abs distance / envelope, about 1.8
  const json j = read_json(dir.file("r.json"));
  CHECK(j["cases"][0]["diagnosis"]["verdict"] == "unexplained");
  CHECK_THAT(j["cases"][0]["diagnosis"]["hypotheses"][0]["evidence"].get<std::string>(), Contains("x the precision envelope"));
}

TEST_CASE("diagnosis verdict: the rule", "[diagnosis]") {
  auto v = [](std::vector<Hypothesis> h, bool failed) { return diagnosis_verdict(h, failed); };
  // The threshold: 0.5 explains, just below does not.
  CHECK(v({{"no_sinks", 0.5, ""}, {"precision", 0.1, ""}}, true).text() == "most likely: no_sinks");
  CHECK(v({{"no_sinks", 0.499, ""}, {"precision", 0.1, ""}}, true).text() ==
        "no built-in hypothesis explains this; nearest: no_sinks (score 0.499), precision (score 0.100)");
  // Precision never explains a failure; the next hypothesis above the threshold may.
  CHECK(v({{"precision", 0.9, ""}, {"no_sinks", 0.2, ""}}, true).text() ==
        "no built-in hypothesis explains this; nearest: precision (score 0.900), no_sinks (score 0.200)");
  CHECK(v({{"precision", 0.9, ""}, {"no_sinks", 0.6, ""}}, true).name() == "no_sinks");
  CHECK(v({{"precision", 0.9, ""}}, false).text() == "most likely: precision");  // diagnose of a passing output
  // Not-applicable hypotheses (score 0) are never nearest; tiny scores keep their digits.
  CHECK(v({{"precision", 0.0001, ""}, {"window_off_by_one", 0.0, "not applicable: ..."}}, true).text() ==
        "no built-in hypothesis explains this; nearest: precision (score 1.0e-04)");
  CHECK(v({}, true).text() == "no built-in hypothesis explains this");
  // The writers that render a JSON report get the same verdict from it.
  const json c = {{"verdict", "fail"},
                  {"diagnosis", diagnosis_to_json({{"precision", 0.7, ""}, {"stale_max", 0.3, ""}}, true)}};
  CHECK(c["diagnosis"]["verdict"] == "unexplained");
  CHECK(diagnosis_verdict_of_case(c).text() ==
        "no built-in hypothesis explains this; nearest: precision (score 0.700), stale_max (score 0.300)");
}
