// A dump directory (SPEC §8 "dump"): one case's inputs, its reference outputs and case.json, the
// hand-over point between attn-diff and a kernel that runs elsewhere. `dump` writes it, the
// external-command candidate writes a smaller one per case, `compare` and `diagnose` read it back.
//
// case.json is a suite file with one fully resolved case, so `attn-diff run --config DIR/case.json`
// runs it and a script reads `cases[0]`. Its top-level "dump" object (ignored by the suite loader)
// says what was written: format, layout, file names, shapes and dtypes, and the per-tensor input
// scales of the fp8 and int8 recipes (each stored value is code × scale).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"
#include "src/suite/problem.hpp"

namespace attn {

enum class DumpFormat {
  npy,          // q.npy, k.npy, v.npy, sinks.npy as float32 holding values exact in the input dtype
  safetensors,  // one inputs.safetensors, inputs in their own dtype (BF16, F16, F32; fp8/int8 as F32)
};
std::optional<DumpFormat> dump_format_from_name(std::string_view name);
std::string_view dump_format_name(DumpFormat f);

struct DumpRequest {
  std::string dir;
  DumpFormat format = DumpFormat::npy;
  std::string suite;   // the suite the case comes from
  std::string config;  // the file it was loaded from ("" if none)
};

/// Reference outputs to write next to the inputs (bshd; an empty span is not written).
struct DumpOutputs {
  std::span<const double> golden;  // golden.npy, float64
  std::span<const double> naive;   // naive.npy, float32
  std::span<const double> tiled;   // tiled.npy, float32
  // A backward case's golden tensors (SPEC §10): golden_<name>.npy, float64, in order.
  struct Tensor {
    std::string name;
    std::vector<std::int64_t> shape;
    std::span<const double> values;
  };
  std::vector<Tensor> golden_tensors;
};

/// Writes the inputs, the given outputs and case.json into req.dir (created if missing). case.json
/// is written last, so its presence means the dump is complete.
bool write_dump(const DumpRequest& req, const CaseSpec& c, const Inputs& in, const DumpOutputs& outputs,
                std::string* err);

/// Every file name a dump folder may get (inputs of both formats, references, case.json), for the
/// check that none of them is a file the command reads.
std::vector<std::string> dump_file_names();

/// The files `compare` and `diagnose` read from the dump at `path` (a folder or its case.json):
/// case.json and every file its "dump.files" names, for the check that no output overwrites one.
/// Lenient: what cannot be read or parsed is left out (load_dump reports it).
std::vector<std::string> dump_input_files(const std::string& path);

/// Why `name` is not a file name inside folder `dir` ("" when it is): absolute or empty, holding
/// "..", or leading out through a symlink. What every name a dump or a manifest holds must pass.
std::string outside_folder(const std::string& dir, const std::string& name,
                           std::string_view folder = "the dump folder");

/// A dump read back.
struct Dump {
  std::string dir;        // the directory
  std::string case_file;  // DIR/case.json
  std::string suite;
  CaseSpec spec;
  nlohmann::json info;  // the "dump" object of case.json; null when case.json was written by hand
};

/// Loads DIR/case.json (`path` may also name the .json file itself), which must hold exactly one case,
/// and checks its "dump" object with check_dump_info. This is the one entry that reads case.json.
bool load_dump(const std::string& path, const LoadOptions& opt, Dump* out, Diagnostics* diags);

/// The "dump" object's types and file names: "files" an object of {"file": string, "tensor":
/// string (optional)}, "input_scales" an object of numbers, and every file name relative to the
/// dump folder without "..", staying inside it after symlinks. A diagnostic names case.json and the
/// key (e.g. 'dump.files.q.tensor'); nothing is read from the files.
bool check_dump_info(const Dump& d, Diagnostics* diags);

/// Reads the inputs a dump lists (npy or safetensors) with their scales, checking every shape.
/// False with a message naming the file when one is missing or malformed, or when the dump lists no
/// inputs (case.json written by hand).
bool read_dump_inputs(const Dump& d, Inputs* out, std::string* err);

/// Checks that the dumped inputs are, bit for bit, the ones the case generates: a dump edited by
/// hand or written by another version would otherwise be judged against the wrong golden. A dump
/// without input files passes (there is nothing to disagree with).
bool check_dump_inputs(const Dump& d, const Inputs& generated, std::string* err);

}  // namespace attn
