#include "src/cli/diagnose.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <optional>

#include "src/cli/common.hpp"
#include "src/cli/compare.hpp"
#include "src/judge/backward_diagnosis.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/report/table.hpp"

namespace attn {

void setup_diagnose(CLI::App& app, DiagnoseOptions& opt) {
  app.add_option("--inputs,-i", opt.inputs, "directory written by `attn-diff dump` (or its case.json)")->required();
  app.add_option("--candidate", opt.candidate, "the kernel's output: .npy or .safetensors")->required();
  app.add_option("--layout", opt.layout, "layout of the output: bshd (default), bhsd, bs(hd), s(hd)");
  app.add_flag("--bf16-bits", opt.bf16_bits, "read '<u2'/'<i2' .npy files as bf16 bit patterns");
  app.add_flag("--precision", opt.precision,
               "run the precision fingerprint even for a passing or explained output: which recipe near the case's "
               "reproduces the candidate's rounding (a failure nothing explains gets it anyway)");
  app.add_option("--json", opt.json, "write {\"diagnosis\": NAME or \"unexplained\", \"hypotheses\": [{name, score, evidence}]} best first to this file");
  app.add_option("--top", opt.top, "hypotheses to print (default 5; --json has them all)")->transform(integer_in(1, 10000));
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
}

int run_diagnose(const DiagnoseOptions& opt) {
  std::vector<PathOption> inputs = {{"--candidate", opt.candidate}};
  for (const std::string& file : dump_input_files(opt.inputs)) inputs.push_back({"--inputs", file});
  if (!check_output_paths(inputs, {{"--json", opt.json}})) return kExitUsage;
  Comparison cmp;
  if (int code = load_comparison(opt.inputs, opt.candidate, opt.layout, opt.bf16_bits, opt.threads, opt.max_memory, &cmp))
    return code;
  const CaseSpec& c = cmp.dump.spec;
  const CaseResult r = judge(cmp.prepared, output_candidate(cmp.candidate, cmp.tensors), {.threads = cmp.threads});
  const bool failed = r.verdict == Verdict::fail || r.verdict == Verdict::error;
  // Tensors that failed alone are diagnosed on them, an output with the lse handed back beside it
  // (src/judge/backward_diagnosis.hpp).
  const bool has_lse = !cmp.tensors.lse.empty();
  const bool tensors_only = r.verdict == Verdict::fail && !r.output_failed && (c.backward || has_lse);
  std::optional<DiagnosisContext> ctx;
  if (!tensors_only) ctx = build_diagnosis_context(cmp.prepared, cmp.layout, cmp.threads);
  nlohmann::json fingerprint;
  std::vector<Hypothesis> h =
      tensors_only ? diagnose_tensors(cmp.prepared, cmp.candidate, cmp.tensors, cmp.threads)
                   : diagnose_with_fingerprint(*ctx, cmp.prepared, cmp.candidate, failed, opt.precision, cmp.threads,
                                               &fingerprint);
  if (!tensors_only && has_lse) use_lse(*ctx, cmp.prepared, cmp.tensors.lse, cmp.threads, &h);

  const Metrics& m = r.vs_golden;
  std::printf("case %s (%s, %s, %s): %s", c.name.c_str(), shape_label(c.problem.shape).c_str(), features_label(c).c_str(),
              c.recipe.name.c_str(), verdict_name(r.verdict));
  if (m.max_abs)
    std::printf(", max_abs %.2e at [%s], NMSE %s", *m.max_abs, fmt::format("{}", fmt::join(m.max_abs_index, ",")).c_str(),
                m.nmse ? fmt::format("{:.1e}", *m.nmse).c_str() : "-");
  std::printf("\nhypotheses, best first (score 1: explains the output exactly; %.1f or more: within a correct kernel's "
              "error of its prediction, which explains the output):\n", kExplainsScore);
  std::fputs(render_diagnosis(h, opt.top).c_str(), stdout);
  std::vector<std::string> na;
  for (const Hypothesis& x : h)
    if (x.score == 0 && x.evidence.starts_with("not applicable")) na.push_back(x.name);
  if (!na.empty()) std::printf("not applicable to this case: %s (--json says why)\n", fmt::format("{}", fmt::join(na, ", ")).c_str());
  if (!fingerprint.is_null()) {
    const std::string m = fingerprint["matches"].is_string() ? fingerprint["matches"].get<std::string>() : "";
    std::printf("precision fingerprint (%d tiled runs on %s): %s\n", fingerprint["kernel_runs"].get<int>(),
                fingerprint["scope"].get<std::string>().c_str(),
                m.empty() ? "no recipe near the declared one reproduces the output"
                          : fmt::format("matches {} ({})", m, fingerprint["change"].get<std::string>()).c_str());
  }
  const DiagnosisVerdict v = diagnosis_verdict(h, failed);
  std::string what;
  if (ctx) {
    for (const HypothesisPrediction& p : ctx->hypotheses)
      if (p.name == v.explained_by) what = ": " + p.description;
  } else if (const MutantInfo* m = find_mutant(v.explained_by)) {
    what = ": " + m->description;
  } else if (const char* l = lse_convention_description(v.explained_by)) {
    what = std::string(": ") + l;
  }
  // Where the error is, in words (src/judge/localisation.hpp), then the conclusion as the last line.
  if (r.localisation)
    for (const std::string& l : localisation_lines(*r.localisation)) std::printf("where: %s\n", l.c_str());
  for (const TensorResult& t : r.tensors)
    if (t.localisation) std::printf("where: %s\n", t.localisation->summary.c_str());
  std::printf("%s%s\n", v.text().c_str(), what.c_str());
  std::fflush(stdout);

  if (!opt.json.empty()) {
    nlohmann::json j = {{"schema", "attn-diff.diagnosis.v1"}, {"case", c.name}, {"verdict", verdict_name(r.verdict)}};
    const nlohmann::json d = diagnosis_to_json(h, failed);
    j["diagnosis"] = d.at("verdict");  // the explaining hypothesis or "unexplained", as SPEC §14's fuzz report
    j["hypotheses"] = d.at("hypotheses");
    if (r.localisation) j["localisation"] = localisation_to_json(*r.localisation);
    for (const TensorResult& t : r.tensors)
      if (t.localisation) j["tensors_localisation"][t.name] = localisation_to_json(*t.localisation);
    if (!fingerprint.is_null()) j["fingerprint"] = fingerprint;
    if (!write_json_file(opt.json, j)) return kExitRuntime;
  }
  return kExitPass;
}

}  // namespace attn
