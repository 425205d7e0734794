// Reading an external kernel's output (SPEC §8 "Candidate files"): .npy or .safetensors, recognised
// by their content rather than their name, in any accepted layout, returned as bshd float64.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "src/io/layout.hpp"
#include "src/suite/problem.hpp"

namespace attn {

struct CandidateReadOptions {
  Layout layout = Layout::bshd;
  bool bf16_bits = false;  // read '<u2' / '<i2' .npy files as bf16 bit patterns
};

/// Reads the candidate output at `path` for an output of dims {B, Sq, H, D}. A file starting with
/// NumPy's magic is read as .npy, anything else as .safetensors (tensor "out", or the only one), so
/// a command may write either format to {out}. Every problem is an error naming the file.
bool read_candidate(const std::string& path, const Index4& dims, const CandidateReadOptions& opt,
                    std::vector<double>* out, std::string* err);

/// A tensor a .safetensors candidate file may hold beside "out" (SPEC §10's lse and gradients): its
/// name, its shape in the file (a 4-D tensor: as bshd dims, read in `opt.layout` like "out"), and
/// whether the file must hold it.
struct ExtraTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  bool required = false;
};

/// read_candidate for a file that may also hold the tensors of `extra`. When any is required the
/// file must be a .safetensors file naming "out"; (*found)[i] holds extra[i]'s values (bshd for a
/// 4-D one), empty when the file does not hold it. Tensors of other names are ignored, as
/// read_candidate ignores them.
bool read_candidate_tensors(const std::string& path, const Index4& dims, const std::vector<ExtraTensor>& extra,
                            const CandidateReadOptions& opt, std::vector<double>* out,
                            std::vector<std::vector<double>>* found, std::string* err);

}  // namespace attn
