// Running one case: inputs, the golden and naive references, the candidate, metrics, gates and the
// verdict, collected in a CaseResult that every report writer only renders.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/mutants.hpp"
#include "src/io/dumpdir.hpp"
#include "src/io/layout.hpp"
#include "src/judge/breakdown.hpp"
#include "src/judge/gates.hpp"
#include "src/judge/localisation.hpp"
#include "src/judge/metrics.hpp"
#include "src/judge/tensors.hpp"
#include "src/suite/config.hpp"

namespace attn {

/// What an external candidate's command (src/judge/external.hpp) or worker (src/judge/worker.hpp) did
/// on one case, kept in the report whether the case passed or not: a user times a kernel inside
/// `run` and reads what it printed.
struct CandidateRun {
  double seconds = 0.0;             // the command's wall time (a worker's: the request's)
  std::vector<std::string> output;  // its last lines of output, stdout and stderr together (a worker's: its stderr), printable()
  std::string worker;               // a worker's name, from its handshake ("" for a command)
  // Set when the candidate declined the case (a worker's "unsupported" reply): the case is then
  // `unsupported` with this reason, not an error.
  std::string unsupported;
};

struct PreparedCase;

/// What is judged. `produce` fills `out` (bshd, float64) or returns false with a message. It gets the
/// prepared case (spec, inputs and the references), not only the inputs: a worker is handed a full
/// dump with golden, naive and tiled in it (SPEC §13).
struct Candidate {
  std::string kernel = "tiled";  // as written in the report: "tiled", "mutant:<name>", "external"
  bool is_expected = true;       // true when the candidate is the correct tiled kernel itself
  std::function<bool(PreparedCase& p, std::vector<double>* out, std::string* err)> produce;
  // The tensors beside the output (SPEC §10), given the output produce() made: on a backward case
  // dq, dk, dv, dsinks and the lse (optional for an external candidate); on a forward case at most
  // an lse the candidate handed back (the built-in kernels hand back none there). Unset for a
  // candidate without a backward pass: a backward case is then `unsupported` for it.
  std::function<bool(PreparedCase& p, std::span<const double> out, BackwardTensors* t, std::string* err)> produce_tensors;
  // Why the candidate cannot run a case ("" = it can); such a case is `unsupported`, never `fail`.
  std::function<std::string(const CaseSpec&)> unsupported;
  // Set by candidates that run a command: what the last produce() call ran (nullopt if it ran
  // nothing). judge() reads it right after produce(); cases are judged one at a time.
  std::function<std::optional<CandidateRun>()> last_run;
};

/// The tiled kernel's output (bshd) on a case's inputs, with one mutant's fault or none: what
/// tiled_candidate and mutant_candidate produce, before widening to float64. With `lse`, the same
/// pass also gives the log-sum-exp ([B][H][Sq]) there.
std::vector<float> run_tiled(const CaseSpec& c, const Inputs& in, int threads, Fault fault = Fault::none,
                             std::vector<float>* lse = nullptr);

/// The correct tiled kernel as a candidate.
Candidate tiled_candidate(int threads);
/// The tiled kernel with one mutant's fault (kernels/mutants.hpp).
Candidate mutant_candidate(const MutantInfo& m, int threads);
/// A candidate whose output is `values` (bshd, computed beforehand: a file `compare` read, an array
/// the Python module was handed) and whose other tensors are `tensors` (SPEC §10; empty ones were
/// not handed back). Both must outlive the candidate.
Candidate output_candidate(const std::vector<double>& values, const BackwardTensors& tensors);

enum class Verdict { pass, fail, error, unsupported };

/// One ranked explanation of a failure (src/judge/diagnosis.hpp): a mutant name, "layout:<x>" or "precision".
struct Hypothesis {
  std::string name;
  double score = 0.0;  // in [0, 1], higher explains the candidate better
  std::string evidence;
};
const char* verdict_name(Verdict v);

struct CaseResult {
  CaseSpec spec;
  std::string kernel;
  Verdict verdict = Verdict::error;
  std::string error;  // why the case is an error or unsupported
  Metrics vs_golden, vs_naive, naive_vs_golden;
  std::optional<Metrics> expected_vs_golden;  // the correct tiled kernel's own error
  std::vector<GateResult> gates;
  std::vector<TensorResult> tensors;  // a backward case's lse, dq, dk, dv, dsinks (src/judge/tensors.hpp)
  std::vector<WorstElement> worst;
  std::vector<std::string> failures;  // one line per reason the case failed
  bool output_failed = false;         // some of them are the output's own (not only a backward tensor's)
  std::int64_t empty_rows = 0;         // query rows (per batch and head) with no visible key
  double golden_max_abs_value = 0.0;
  double seconds = 0.0;
  std::uint64_t peak_memory_bytes = 0;  // resident high-water mark since prepare_case (process-wide)
  std::vector<std::string> coverage;  // kernel paths the case exercises (src/judge/coverage.hpp)
  std::array<float, 4> input_scales{1, 1, 1, 1};  // per-tensor scales of q, k, v, sinks (fp8, int8)
  std::vector<float> k_head_scales, v_head_scales;  // per-head scales (kv_scale per_head), else empty
  std::vector<Hypothesis> diagnosis;  // best first; filled only when a failure was diagnosed
  nlohmann::json fingerprint;         // the precision fingerprint's report object when it matched (else null)
  std::optional<Breakdown> breakdown;  // where the error is; for judged cases (pass or fail)
  std::optional<Localisation> localisation;  // where the error is, in words; for failed cases
  std::optional<CandidateRun> candidate_run;  // an external candidate's command, on every verdict
  // The same case in a --baseline report (src/report/baseline.hpp): its errors against golden, null
  // when it has none (an error or unsupported case there). Unset when there is no baseline or
  // the baseline does not hold the case.
  struct Baseline {
    std::optional<double> max_abs, mae;
  };
  std::optional<Baseline> baseline;
};

struct RunOptions {
  int threads = 1;
  std::size_t worst = 10;  // worst elements kept per case
  bool breakdown = true;   // where the error is (src/judge/breakdown.hpp, src/judge/localisation.hpp); only reports show it
  std::vector<double>* keep_candidate = nullptr;  // if set, judge() moves the candidate's output here
  BackwardTensors* keep_tensors = nullptr;        // and its tensors beside the output here
};

/// Everything about a case that does not depend on the candidate: inputs, golden, naive and their
/// comparison. Prepared once, it can judge many candidates (mutate runs every mutant on it).
struct PreparedCase {
  CaseSpec spec;
  Inputs inputs;
  std::vector<double> golden, naive;
  Metrics naive_vs_golden;
  std::vector<std::string> coverage;
  std::int64_t empty_rows = 0;
  double golden_max_abs_value = 0.0;
  double probs_rounding = 0.0;  // GateContext::probs_rounding (src/judge/gates.hpp)
  std::optional<BackwardTensors> golden_tensors, naive_tensors;  // a backward case's (SPEC §10)
  double seconds = 0.0;  // time spent preparing

  Index4 dims() const {
    const Shape& s = spec.problem.shape;
    return {s.batch, s.tokens, s.heads, s.head_dim};
  }
  /// The correct tiled kernel's error against golden, computed on first use.
  const Metrics& tiled_vs_golden(int threads);
  /// The correct tiled kernel's output (bshd), computed on first use: a yardstick of localise().
  const std::vector<double>& tiled_output(int threads);
  /// The correct tiled kernel's tensors beside the output, computed on first use: on a forward
  /// case its lse only.
  const BackwardTensors& tiled_tensors(int threads);
  /// tiled_tensors, moved out of the cache (a later call computes them again): what the correct
  /// kernel as a candidate hands to judge(), without a copy of its gradients.
  BackwardTensors take_tiled_tensors(int threads);
  /// golden_tensors and naive_tensors, made on first use on a forward case (their lse only).
  void reference_tensors(int threads);

 private:
  std::optional<Metrics> tiled_metrics_;
  std::optional<std::vector<double>> tiled_output_;
  std::vector<float> tiled_lse_;  // the tiled forward's LSE, computed with tiled_output_
  std::optional<BackwardTensors> tiled_tensors_;
};

/// The references a dump of the case holds next to its inputs (SPEC §8, §10): golden, naive, the
/// correct tiled kernel's output (computed on first use) and a backward case's golden tensors. The
/// spans point into p.
DumpOutputs dump_outputs(PreparedCase& p, int threads);

PreparedCase prepare_case(const CaseSpec& c, int threads);
/// The same with the caller's inputs (already rounded to the recipe's input dtype, bshd) instead of
/// the ones the case's seed generates: the Python module's check() on a user's own tensors.
PreparedCase prepare_case(const CaseSpec& c, Inputs inputs, int threads);
/// Runs the candidate on a prepared case and judges it: metrics, gates, verdict.
CaseResult judge(PreparedCase& p, const Candidate& cand, const RunOptions& opt);
/// Why the candidate cannot run the case ("" when it can), and the result that says so.
std::string unsupported_reason(const CaseSpec& c, const Candidate& cand);
CaseResult unsupported_result(const CaseSpec& c, const Candidate& cand, std::string why);
/// Judges an output computed elsewhere (bshd; `declared` is the layout it was handed in, for the
/// layout hypotheses), with the tensors handed back beside it, and, when it fails and `diagnose` is
/// set, diagnoses it (src/judge/diagnosis.hpp): what `compare` and the Python module's judge() both
/// run, so they give the same numbers.
CaseResult judge_output(PreparedCase& p, const std::vector<double>& values, const BackwardTensors& tensors,
                        Layout declared, int threads, bool diagnose = true);
/// prepare_case + judge, or an `unsupported` result.
CaseResult run_case(const CaseSpec& c, const Candidate& cand, const RunOptions& opt);

}  // namespace attn
