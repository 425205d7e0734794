// The manifest of a batch dump (docs/external-kernels.md "Batch mode"; an extension, SPEC does not
// name it): `dump --all` (a glob, several --case) writes DIR/<case>/ per case and then, last and
// atomically, DIR/manifest.json listing them in suite order, so its presence means the tree is
// complete. A kernel author's loop reads it (each case's folder and the output file to write);
// `compare --inputs DIR --candidate OUTDIR` reads it to judge every output in one report.
//
//   {"schema": "attn-diff.dump-manifest.v1", "tool": {"name": "attn-diff", "version": ...},
//    "suite": NAME, "config": FILE, "config_digest": "fnv1a64:...", "seed": N or null,
//    "format": "npy" | "safetensors", "layout": "bshd",
//    "cases": [{"name", "dir": "<case>", "out": "<case>.npy", "precision", "input_dtype", "sinks",
//               "shape": {"batch", "tokens", "kv_tokens", "q_offset", "heads", "kv_heads", "head_dim"},
//               "out_shape": [B, Sq, H, D]}, ...]}
//
// "dir" is relative to the manifest's folder, "out" to the outputs folder. The reader checks only
// what compare uses (schema, suite, cases[].name/dir/out); the shapes are for the author's loop
// (compare takes them from each case.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/io/dumpdir.hpp"
#include "src/suite/config.hpp"

namespace attn {

inline constexpr const char* kManifestFile = "manifest.json";

/// DIR/manifest.json.
std::string manifest_path(const std::string& dir);

struct ManifestRequest {
  std::string dir;            // the tree's root: the cases are DIR/<case name>/
  std::string suite;
  std::string config;         // the suite file ("" if none)
  std::string config_digest;  // "fnv1a64:..." of its bytes, as the run report's "run" object has it
  std::optional<std::uint64_t> seed;  // --seed, or none
  DumpFormat format = DumpFormat::npy;
};

/// Writes DIR/manifest.json for these cases (each dumped to DIR/<name>/), atomically.
bool write_manifest(const ManifestRequest& req, const std::vector<const CaseSpec*>& cases, std::string* err);

struct ManifestCase {
  std::string name;
  std::string dir;  // relative to the manifest's folder
  std::string out;  // relative to the outputs folder
};

struct Manifest {
  std::string dir;   // the folder holding manifest.json
  std::string file;  // DIR/manifest.json
  std::string suite, config, config_digest;
  nlohmann::json seed;  // a number or null
  std::vector<ManifestCase> cases;
};

/// Reads DIR/manifest.json strictly: the schema, "suite" a string, "cases" a non-empty array of
/// objects with a unique "name", a "dir" inside DIR that is a folder holding case.json, and an
/// "out" relative path without "..". A diagnostic names the manifest and the key
/// ('cases[2].dir'); nothing else is read.
bool load_manifest(const std::string& dir, Manifest* out, Diagnostics* diags);

}  // namespace attn
