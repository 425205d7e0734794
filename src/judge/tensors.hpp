// A backward case's tensors besides the output (SPEC §10): lse, dq, dk, dv and dsinks — their three
// computations (golden, naive, the tiled kernel or a mutant of it), and how each is judged: its
// metrics against golden and naive, and its gates.
//   max_abs_vs_naive      FlashAttention's rule for gradients: max_abs(c, golden) <=
//                         k · max_abs(naive, golden) + eps, eps one unit roundoff of the tensor's
//                         format times its largest golden value
//   max_abs_vs_expected   the same with k · max(the correct tiled kernel's error, naive's), for
//                         mutants and external candidates
//   per_element_vs_naive  dsinks only, PR #2706's rule: every head's |c - ref| <= k · max over heads
//                         of |naive - ref| + 2 ulp(ref); the value is the worst use of that bound
// k is gradient_k(recipe, tensor): FlashAttention's 3 for gradients, 16 in fp32, where naive's error
// is tiny and other correct fp32 orders reach 10x it (PyTorch's own fp32 autograd: dV at 1.25x a
// k-8 bound, 8 of 14000 runs over 1000 seeds of configs/backward.json); at least 6 for
// dsinks, a sum over only B·Sq rows per head whose yardstick (the largest of H naive errors) is a
// small-sample statistic: over 1000 seeds of configs/backward.json the correct kernel's dsinks
// reached 1.32x the k-3 bound once, on a 4-query decode case (docs/backward.md, docs/calibration.md).
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/fault.hpp"
#include "src/io/candidate_file.hpp"
#include "src/judge/breakdown.hpp"
#include "src/judge/gates.hpp"
#include "src/judge/localisation.hpp"
#include "src/judge/metrics.hpp"
#include "src/suite/config.hpp"

namespace attn {

inline double gradient_k(const Recipe& r, std::size_t tensor) {
  const double k = r.eager == DType::f32 ? 16.0 : 3.0;
  return tensor == 4 ? std::max(k, 6.0) : k;  // 4: dsinks
}

/// The tensors of SPEC §10 after `out`, in report order, float64; an empty one was not produced.
struct BackwardTensors {
  std::vector<double> lse, dq, dk, dv, dsinks;
  static constexpr std::array<const char*, 5> kNames = {"lse", "dq", "dk", "dv", "dsinks"};
  std::vector<double>& at(std::size_t i) { return *std::array{&lse, &dq, &dk, &dv, &dsinks}[i]; }
  const std::vector<double>& at(std::size_t i) const { return const_cast<BackwardTensors*>(this)->at(i); }
};

/// The index of a name of BackwardTensors::kNames (kNames.size() when it is none of them).
inline std::size_t tensor_index(std::string_view name) {
  return std::size_t(std::find(BackwardTensors::kNames.begin(), BackwardTensors::kNames.end(), name) -
                     BackwardTensors::kNames.begin());
}
/// Whether a candidate must hand tensor i back on case c: dq, dk, dv on a backward case, and dsinks
/// when it has sinks (the lse is always optional).
inline bool tensor_required(const CaseSpec& c, std::size_t i) {
  return c.backward && i > 0 && (i < 4 || c.problem.has_sinks);
}

/// Tensor i's dims as metrics index them: lse {B, H, Sq, 1}, dq {B, Sq, H, D}, dk and dv
/// {B, Sk, Hkv, D}, dsinks {1, 1, H, 1}.
Index4 tensor_dims(const Shape& s, std::size_t i);
/// Tensor i's shape in files (SPEC §10): lse [B][H][Sq], dq [B][Sq][H][D], dk, dv [B][Sk][Hkv][D], dsinks [H].
std::vector<std::int64_t> tensor_shape(const Shape& s, std::size_t i);

/// golden's and naive's tensors of a backward case, their forward output (golden_attention's and
/// naive_attention's, bit for bit) into `out` in the same pass.
BackwardTensors golden_tensors(const CaseSpec& c, const Inputs& in, std::span<double> out, int threads);
BackwardTensors naive_tensors(const CaseSpec& c, const Inputs& in, std::span<float> out, int threads);
/// The tiled kernel's LSE and backward from its forward output `out` (bshd) and LSE, with one fault
/// or none; the second form runs the forward again for its LSE.
BackwardTensors tiled_tensors(const CaseSpec& c, const Inputs& in, std::span<const double> out,
                              std::span<const float> lse, int threads, Fault fault = Fault::none);
BackwardTensors tiled_tensors(const CaseSpec& c, const Inputs& in, std::span<const double> out, int threads,
                              Fault fault = Fault::none);

/// An external candidate's file (SPEC §8, §10) for case c: its output and, from a .safetensors file,
/// the tensors beside it — on a backward case dq, dk, dv and dsinks (when the case has sinks), each
/// required, and an optional lse; on a forward case an optional lse. Gradients in a forward case's
/// file are an error (the case was probably meant to set "backward").
bool read_candidate_file(const std::string& path, const CaseSpec& c, const CandidateReadOptions& opt,
                         std::vector<double>* out, BackwardTensors* t, std::string* err);

/// Why the tensors a candidate handed back beside its output cannot be judged on case c ("" when
/// they can): a backward case needs dq, dk, dv and, with sinks, dsinks; a forward case takes an lse
/// only (gradients there mean the case was probably meant to set "backward"); no sinks, no dsinks.
std::string handed_tensors_problem(const CaseSpec& c, const BackwardTensors& t);

struct TensorResult {
  std::string name;
  Metrics vs_golden, vs_naive, naive_vs_golden;
  std::optional<Metrics> expected_vs_golden;
  std::vector<GateResult> gates;
  std::optional<Localisation> localisation;  // where it is wrong (src/judge/tensor_localisation.hpp); when it failed
  std::optional<Heatmap> heatmap;            // max |c - golden| per head × token (tensor_heatmap); with breakdowns
};

/// The eps of tensor i's max_abs gates: one unit roundoff of the format it is stored in times the
/// largest |golden| value.
double tensor_eps(const Recipe& r, std::size_t i, const std::vector<double>& golden);

/// Judges every tensor the candidate produced (an lse left empty is not judged: it is optional for
/// an external candidate). `expected` is the correct tiled kernel's tensors, null when the candidate
/// is that kernel. Fails with a message when a tensor has the wrong size.
bool judge_tensors(const CaseSpec& c, const BackwardTensors& candidate, const BackwardTensors& golden,
                   const BackwardTensors& naive, const BackwardTensors* expected, int threads,
                   std::vector<TensorResult>* out, std::string* err);

}  // namespace attn
