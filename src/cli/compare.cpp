#include "src/cli/compare.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdio>

#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/io/candidate_file.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/report/report.hpp"
#include "src/report/table.hpp"

namespace attn {

void setup_compare(CLI::App& app, CompareOptions& opt) {
  app.add_option("--inputs,-i", opt.inputs, "directory written by `attn-diff dump` (or its case.json)")->required();
  app.add_option("--candidate", opt.candidate, "the kernel's output: .npy or .safetensors (tensor 'out' or the only one)")
      ->required();
  app.add_option("--layout", opt.layout, "layout of the output: bshd (default), bhsd, bs(hd), s(hd)");
  app.add_flag("--bf16-bits", opt.bf16_bits, "read '<u2'/'<i2' .npy files as bf16 bit patterns");
  setup_report_files(app, opt.reports);  // the JSON report carries the diagnosis of a failure
  app.add_flag("--no-diagnose", opt.no_diagnose, "do not diagnose a failure");
  app.add_option("--threads,-j", opt.threads, "worker threads (default: one per core)")->transform(thread_count());
  app.add_option("--max-memory", opt.max_memory, "refuse a case estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--quiet,-q", opt.quiet, "print only the summary line and failures");
  app.add_flag("--no-color", opt.no_color, "no ANSI colours (also: NO_COLOR=1)");
}

int load_comparison(const std::string& inputs, const std::string& candidate, const std::string& layout,
                    bool bf16_bits, int threads, const std::string& max_memory, Comparison* out) {
  const auto l = layout_from_name(layout);
  if (!l) {
    std::fprintf(stderr, "%s\n", unknown_layout_message(layout).c_str());
    return kExitUsage;
  }
  out->layout = *l;
  out->threads = resolve_threads(threads);
  LoadOptions load{.threads = out->threads};
  if (auto bytes = parse_bytes(max_memory)) load.max_memory = *bytes;
  else {
    std::fprintf(stderr, "error: --max-memory '%s' is not a size (e.g. 8G, 512M, 1000000)\n", max_memory.c_str());
    return kExitUsage;
  }
  Diagnostics diags;
  if (!load_dump(inputs, load, &out->dump, &diags)) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  // Read the candidate before the (possibly long) references, so a wrong file fails fast.
  const Shape& s = out->dump.spec.problem.shape;
  std::string err;
  if (!read_candidate(candidate, {s.batch, s.tokens, s.heads, s.head_dim}, {.layout = *l, .bf16_bits = bf16_bits},
                      &out->candidate, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  out->prepared = prepare_case(out->dump.spec, out->threads);
  if (!check_dump_inputs(out->dump, out->prepared.inputs, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return kExitUsage;
  }
  return kExitPass;
}

int run_compare(const CompareOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<PathOption> inputs = {{"--candidate", opt.candidate}};
  for (const std::string& file : dump_input_files(opt.inputs)) inputs.push_back({"--inputs", file});
  if (!check_report_files(opt.reports, inputs)) return kExitUsage;
  Comparison cmp;
  if (int code = load_comparison(opt.inputs, opt.candidate, opt.layout, opt.bf16_bits, opt.threads, opt.max_memory, &cmp))
    return code;
  CaseResult r = judge_output(cmp.prepared, cmp.candidate, cmp.layout, cmp.threads, !opt.no_diagnose);
  RunReport report{.suite = cmp.dump.suite, .config_file = cmp.dump.case_file, .cases = {std::move(r)}};

  const bool color = use_color(opt.no_color);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fputs((opt.quiet ? render_case_lines(report, false) : render_table(report, color)).c_str(), stdout);
  std::fputs(render_report_diagnoses(report.cases).c_str(), stdout);
  std::fputs(render_summary(report, color, seconds).c_str(), stdout);
  std::fflush(stdout);
  if (!write_report_files(opt.reports, report_to_json(report))) return kExitRuntime;
  if (report.errors()) return kExitRuntime;
  return report.failed() ? kExitFail : kExitPass;
}

}  // namespace attn
