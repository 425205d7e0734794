#include "src/io/dumpdir.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"

namespace attn {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kSchema = "attn-diff.dump.v1";
constexpr const char* kInputsSafetensors = "inputs.safetensors";

// One input tensor of a case: its name in files, its shape, and where Inputs keeps it.
struct InputSlot {
  const char* name;
  std::vector<std::int64_t> shape;
  std::vector<float> Inputs::*values;
  float Inputs::*scale;
  DType Recipe::*dtype;
  std::vector<float> Inputs::*head_scales;  // per-head scales (K, V), or null
};

std::vector<InputSlot> input_slots(const CaseSpec& c) {
  const Shape& s = c.problem.shape;
  std::vector<InputSlot> t = {
      {"q", {s.batch, s.tokens, s.heads, s.head_dim}, &Inputs::q, &Inputs::q_scale, &Recipe::q, nullptr},
      {"k", {s.batch, s.kv_tokens, s.kv_heads, s.head_dim}, &Inputs::k, &Inputs::k_scale, &Recipe::k, &Inputs::k_head_scales},
      {"v", {s.batch, s.kv_tokens, s.kv_heads, s.head_dim}, &Inputs::v, &Inputs::v_scale, &Recipe::v, &Inputs::v_head_scales}};
  if (c.problem.has_sinks)
    t.push_back({"sinks", {s.heads}, &Inputs::sinks, &Inputs::sinks_scale, &Recipe::sinks, nullptr});
  return t;
}

// The dtype inputs.safetensors stores a recipe's inputs in: their own where safetensors and our
// codec have it, the dequantised float32 values (with the scales in the metadata) for fp8 and int8.
ArrayDType storage_dtype(DType input) {
  switch (input) {
    case DType::bf16: return ArrayDType::bf16;
    case DType::f16: return ArrayDType::f16;
    case DType::f64: return ArrayDType::f64;
    default: return ArrayDType::f32;
  }
}

std::string st_dtype_name(ArrayDType t) {
  switch (t) {
    case ArrayDType::f16: return "F16";
    case ArrayDType::bf16: return "BF16";
    case ArrayDType::f32: return "F32";
    case ArrayDType::f64: return "F64";
  }
  return "?";
}

std::vector<double> widen(const std::vector<float>& x) { return {x.begin(), x.end()}; }

bool write_npy_outputs(const fs::path& dir, const CaseSpec& c, const DumpOutputs& outputs, ordered_json* files,
                       std::string* err) {
  const Shape& s = c.problem.shape;
  const std::vector<std::int64_t> shape = {s.batch, s.tokens, s.heads, s.head_dim};
  struct Out {
    const char* name;
    std::span<const double> values;
    bool f64;
  };
  for (const Out& o : {Out{"golden", outputs.golden, true}, Out{"naive", outputs.naive, false},
                       Out{"tiled", outputs.tiled, false}}) {
    if (o.values.empty()) continue;
    const std::string file = std::string(o.name) + ".npy";
    const std::string path = (dir / file).string();
    bool ok;
    if (o.f64) {
      ok = write_npy_f64(path, shape, o.values, err);
    } else {
      const std::vector<float> f(o.values.begin(), o.values.end());  // exact: these are float results
      ok = write_npy_f32(path, shape, f, err);
    }
    if (!ok) return false;
    (*files)[o.name] = {{"file", file}, {"shape", shape}, {"dtype", o.f64 ? "float64" : "float32"}};
  }
  for (const DumpOutputs::Tensor& t : outputs.golden_tensors) {
    const std::string name = "golden_" + t.name, file = name + ".npy";
    if (!write_npy_f64((dir / file).string(), t.shape, t.values, err)) return false;
    (*files)[name] = {{"file", file}, {"shape", t.shape}, {"dtype", "float64"}};
  }
  return true;
}

}  // namespace

std::optional<DumpFormat> dump_format_from_name(std::string_view name) {
  if (name == "npy") return DumpFormat::npy;
  if (name == "safetensors") return DumpFormat::safetensors;
  return std::nullopt;
}

std::vector<std::string> dump_file_names() {
  return {"q.npy",          "k.npy",          "v.npy",          "sinks.npy",     kInputsSafetensors,
          "do.npy",         "golden.npy",     "naive.npy",      "tiled.npy",     "golden_lse.npy",
          "golden_dq.npy",  "golden_dk.npy",  "golden_dv.npy",  "golden_dsinks.npy", "case.json"};
}

std::string_view dump_format_name(DumpFormat f) { return f == DumpFormat::npy ? "npy" : "safetensors"; }

bool write_dump(const DumpRequest& req, const CaseSpec& c, const Inputs& in, const DumpOutputs& outputs,
                std::string* err) {
  const fs::path dir(req.dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    *err = fmt::format("{}: error: cannot create the directory ({})", req.dir, ec ? ec.message() : "a file is in the way");
    return false;
  }
  const std::vector<InputSlot> tensors = input_slots(c);
  ordered_json files = ordered_json::object();
  ordered_json scales = ordered_json::object();
  for (const InputSlot& t : tensors) {
    if (t.head_scales && !(in.*t.head_scales).empty()) scales[t.name] = in.*t.head_scales;
    else scales[t.name] = in.*t.scale;
  }

  if (req.format == DumpFormat::npy) {
    for (const InputSlot& t : tensors) {
      const std::string file = std::string(t.name) + ".npy";
      if (!write_npy_f32((dir / file).string(), t.shape, in.*t.values, err)) return false;
      files[t.name] = {{"file", file}, {"shape", t.shape}, {"dtype", "float32"}};
    }
  } else {
    std::vector<std::vector<double>> wide;
    std::vector<TensorToWrite> st;
    for (const InputSlot& t : tensors) wide.push_back(widen(in.*t.values));
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const ArrayDType dtype = storage_dtype(c.recipe.*tensors[i].dtype);
      st.push_back({.name = tensors[i].name, .shape = tensors[i].shape, .dtype = dtype, .values = wide[i]});
      files[tensors[i].name] = {{"file", kInputsSafetensors}, {"tensor", tensors[i].name},
                                {"shape", tensors[i].shape}, {"dtype", st_dtype_name(dtype)}};
    }
    std::vector<std::pair<std::string, std::string>> meta = {{"case", c.name},
                                                             {"precision", c.recipe.name},
                                                             {"input_dtype", input_dtype_label(c.recipe)},
                                                             {"layout", "bshd"}};
    for (const InputSlot& t : tensors) {
      const bool per_head = t.head_scales && !(in.*t.head_scales).empty();
      meta.emplace_back(std::string(t.name) + "_scale", per_head ? fmt::format("[{}]", fmt::join(in.*t.head_scales, ","))
                                                                 : fmt::format("{}", in.*t.scale));
    }
    if (!write_safetensors((dir / kInputsSafetensors).string(), st, err, meta)) return false;
  }
  if (c.backward) {  // SPEC §10: dO as float32 in both formats, exactly what golden uses
    const Shape& s = c.problem.shape;
    const std::vector<std::int64_t> shape = {s.batch, s.tokens, s.heads, s.head_dim};
    if (!write_npy_f32((dir / "do.npy").string(), shape, in.dout, err)) return false;
    files["do"] = {{"file", "do.npy"}, {"shape", shape}, {"dtype", "float32"}};
  }
  if (!write_npy_outputs(dir, c, outputs, &files, err)) return false;

  ordered_json info = {{"schema", kSchema},
                       {"tool", "attn-diff " ATTN_DIFF_VERSION},
                       {"config", req.config},
                       {"case", c.name},
                       {"format", dump_format_name(req.format)},
                       {"layout", "bshd"},
                       {"precision", c.recipe.name},
                       {"input_dtype", input_dtype_label(c.recipe)}};
  if (!c.recipe.uniform_inputs()) {
    info["input_dtypes"] = ordered_json::object();
    for (const InputSlot& t : tensors) info["input_dtypes"][t.name] = dtype_name(c.recipe.*t.dtype);
  }
  info["input_scales"] = scales;
  info["files"] = files;
  ordered_json doc = {
      {"suite", req.suite.empty() ? std::string("dump") : req.suite},
      {"description", fmt::format("attn-diff dump of case '{}'{}. A suite with this one case: run it with "
                                  "`attn-diff run --config` or read cases[0].",
                                  c.name, req.config.empty() ? "" : " from " + req.config)},
      {"dump", info},
      {"cases", ordered_json::array({ordered_json::parse(c.to_json().dump())})}};
  return write_file_atomic((dir / "case.json").string(), doc.dump(2) + "\n", err);
}

// A file name from case.json, relative to the dump folder and staying in it after symlinks:
// a dump is handed over from elsewhere and must not make us read /etc/shadow or /dev/zero.
std::string outside_folder(const std::string& dir, const std::string& name, std::string_view folder) {
  const fs::path rel(name);
  if (name.empty() || rel.is_absolute()) return "is absolute or empty";
  for (const fs::path& part : rel)
    if (part == "..") return fmt::format("leaves {} ('..')", folder);
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  const fs::path real = fs::weakly_canonical(fs::absolute(fs::path(dir) / rel, ec), ec);
  const auto [r, x] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (r != root.end()) return fmt::format("leaves {} through a symlink", folder);
  return "";
}

std::vector<std::string> dump_input_files(const std::string& path) {
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  const fs::path dir = is_dir ? fs::path(path) : fs::path(path).parent_path();
  const std::string case_file = is_dir ? (dir / "case.json").string() : path;
  std::vector<std::string> files = {case_file};
  InputFile f;
  std::string bytes, err;
  if (!f.open(case_file, &err) || f.size() > (64u << 20) || !f.read(0, f.size(), &bytes, &err)) return files;
  const json doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc.contains("dump") || !doc["dump"].is_object()) return files;
  const json& listed = doc["dump"].value("files", json::object());
  if (!listed.is_object()) return files;
  for (const auto& [name, entry] : listed.items())
    if (entry.is_object() && entry.contains("file") && entry["file"].is_string())
      files.push_back((dir / entry["file"].get<std::string>()).string());
  return files;
}

bool check_dump_info(const Dump& d, Diagnostics* diags) {
  auto bad = [&](const std::string& key, const std::string& what) {
    diags->push_back({d.case_file, "", fmt::format("'{}' {}", key, printable(what)),
                      "case.json is written by `attn-diff dump`; dump the case again"});
    return false;
  };
  const auto type = json_type_with_article;
  const json& info = d.info;
  if (info.is_null()) return true;  // case.json written by hand: no input files to read
  if (!info.is_object()) return bad("dump", "is " + type(info) + ", not an object");
  if (info.contains("input_scales")) {
    const json& scales = info["input_scales"];
    if (!scales.is_object()) return bad("dump.input_scales", "is " + type(scales) + ", not an object");
    for (const auto& [name, v] : scales.items()) {
      const bool per_head = v.is_array() && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); });
      if (!v.is_number() && !per_head)
        return bad("dump.input_scales." + name, "is " + type(v) + ", not a number or a list of per-head numbers");
    }
  }
  if (!info.contains("files")) return true;
  const json& files = info["files"];
  if (!files.is_object()) return bad("dump.files", "is " + type(files) + ", not an object");
  for (const auto& [name, entry] : files.items()) {
    const std::string key = "dump.files." + name;
    if (!entry.is_object()) return bad(key, "is " + type(entry) + ", not an object");
    if (!entry.contains("file")) return bad(key, "has no \"file\"");
    if (!entry["file"].is_string()) return bad(key + ".file", "is " + type(entry["file"]) + ", not a string");
    if (entry.contains("tensor") && !entry["tensor"].is_string())
      return bad(key + ".tensor", "is " + type(entry["tensor"]) + ", not a string");
    const std::string file = entry["file"].get<std::string>();
    if (const std::string why = outside_folder(d.dir, file); !why.empty())
      return bad(key + ".file", fmt::format("'{}' {}; a dump names its files relative to its folder", file, why));
  }
  return true;
}

bool load_dump(const std::string& path, const LoadOptions& opt, Dump* out, Diagnostics* diags) {
  std::error_code ec;
  const fs::path p(path);
  const bool is_file = fs::is_regular_file(p, ec);
  out->dir = is_file ? (p.has_parent_path() ? p.parent_path().string() : std::string(".")) : path;
  out->case_file = is_file ? path : (p / "case.json").string();
  if (!is_file && !fs::is_directory(p, ec)) {
    diags->push_back({path, "", "no such directory", "pass the directory `attn-diff dump --out` wrote"});
    return false;
  }
  if (!fs::exists(out->case_file, ec)) {
    diags->push_back({out->case_file, "", "no case.json in the inputs directory",
                      "make one with: attn-diff dump --config FILE --case NAME --out DIR"});
    return false;
  }
  Suite suite;
  if (!load_suite(out->case_file, opt, &suite, diags)) return false;
  if (suite.cases.size() != 1) {
    diags->push_back({out->case_file, "", fmt::format("holds {} cases; a dump holds exactly one", suite.cases.size()),
                      "dump one case with: attn-diff dump --config FILE --case NAME --out DIR"});
    return false;
  }
  out->suite = suite.name;
  out->spec = suite.cases.front();
  std::string text, why;
  read_text_file(out->case_file, &text, &why);
  JsonError json_err;  // load_suite above accepted the same text through the same strict parser
  const json doc = parse_json_strict(text, &json_err).value_or(json());
  out->info = doc.is_object() && doc.contains("dump") ? doc["dump"] : json();
  return check_dump_info(*out, diags);
}

bool read_dump_inputs(const Dump& d, Inputs* out, std::string* err) {
  if (!d.info.is_object() || !d.info.contains("files")) {
    *err = fmt::format("{}: error: lists no input files (no \"dump\" object)", d.case_file);
    return false;
  }
  const json& files = d.info["files"];
  const CaseSpec& c = d.spec;
  Inputs in;
  for (const InputSlot& t : input_slots(c)) {
    if (!files.contains(t.name) || !files[t.name].contains("file") || !files[t.name]["file"].is_string()) {
      *err = fmt::format("{}: error: \"dump.files\" has no entry for '{}'", d.case_file, t.name);
      return false;
    }
    const std::string path = (fs::path(d.dir) / files[t.name]["file"].get<std::string>()).string();
    // Names and types were checked by check_dump_info; the shape is checked against the one the
    // case needs before any data is read.
    const auto accept_shape = [&](const std::vector<std::int64_t>& shape, std::string* why) {
      if (shape == t.shape) return true;
      *why = fmt::format("{}: error: '{}' has shape [{}], the case needs [{}]", path, t.name, fmt::join(shape, ", "),
                         fmt::join(t.shape, ", "));
      return false;
    };
    Array a;
    if (files[t.name].contains("tensor")) {
      InputFile f;
      SafetensorsIndex index;
      if (!f.open(path, err) || !read_safetensors_index(f, &index, err)) return false;
      const std::string want = files[t.name]["tensor"].get<std::string>();
      auto it = std::find_if(index.tensors.begin(), index.tensors.end(), [&](const NamedArray& x) { return x.name == want; });
      if (it == index.tensors.end()) {
        *err = fmt::format("{}: error: no tensor named '{}'", path, printable(want));
        return false;
      }
      if (!accept_shape(it->array.shape, err) ||
          !read_safetensors_tensor(f, index, std::size_t(it - index.tensors.begin()), &a, err))
        return false;
    } else if (!read_npy(path, &a, err, {.accept_shape = accept_shape})) {
      return false;
    }
    (in.*t.values).assign(a.values.begin(), a.values.end());
    // The scales only matter for fp8 and int8, whose kernels need them to recover the codes.
    const json scales = d.info.value("input_scales", json::object());
    if (scales.contains(t.name) && scales[t.name].is_number()) in.*t.scale = scales[t.name].get<float>();
    if (t.head_scales && scales.contains(t.name) && scales[t.name].is_array())
      in.*t.head_scales = scales[t.name].get<std::vector<float>>();
  }
  if (c.backward) {  // dO (SPEC §10): do.npy, float32, Q's shape
    const Shape& s = c.problem.shape;
    const std::vector<std::int64_t> shape = {s.batch, s.tokens, s.heads, s.head_dim};
    if (!files.contains("do") || !files["do"].contains("file") || !files["do"]["file"].is_string()) {
      *err = fmt::format("{}: error: the case has a backward pass but \"dump.files\" has no entry for 'do'", d.case_file);
      return false;
    }
    const std::string path = (fs::path(d.dir) / files["do"]["file"].get<std::string>()).string();
    Array a;
    const auto accept_shape = [&](const std::vector<std::int64_t>& got, std::string* why) {
      if (got == shape) return true;
      *why = fmt::format("{}: error: 'do' has shape [{}], the case needs [{}]", path, fmt::join(got, ", "),
                         fmt::join(shape, ", "));
      return false;
    };
    if (!read_npy(path, &a, err, {.accept_shape = accept_shape})) return false;
    in.dout.assign(a.values.begin(), a.values.end());
  }
  *out = std::move(in);
  return true;
}

bool check_dump_inputs(const Dump& d, const Inputs& generated, std::string* err) {
  if (!d.info.is_object() || !d.info.contains("files")) return true;
  Inputs dumped;
  if (!read_dump_inputs(d, &dumped, err)) return false;
  const CaseSpec& c = d.spec;
  for (const InputSlot& t : input_slots(c)) {
    const std::vector<float>& x = dumped.*t.values;
    const std::vector<float>& y = generated.*t.values;
    for (std::size_t n = 0; n < x.size(); ++n)
      if (!(x[n] == y[n]) && !(std::isnan(x[n]) && std::isnan(y[n]))) {
        *err = fmt::format(
            "{}: error: the dumped '{}' differs from the inputs case.json generates (element {}: {} in the file, {} "
            "generated)\nnote: the dump was edited or written by another attn-diff version; dump the case again",
            d.dir, t.name, n, x[n], y[n]);
        return false;
      }
    const bool scales_differ =
        dumped.*t.scale != generated.*t.scale || (t.head_scales && dumped.*t.head_scales != generated.*t.head_scales);
    if (d.info.value("input_scales", json::object()).contains(t.name) && scales_differ) {
      // Per-head scales (kv_scale per_head) are lists: show them, not the unused per-tensor 1.
      auto shown = [&](const Inputs& in) {
        return t.head_scales && !(in.*t.head_scales).empty() ? fmt::format("[{}]", fmt::join(in.*t.head_scales, ", "))
                                                             : fmt::format("{}", in.*t.scale);
      };
      *err = fmt::format("{}: error: the dumped scale of '{}' is {}, the case generates {}\nnote: dump the case again",
                         d.case_file, t.name, shown(dumped), shown(generated));
      return false;
    }
  }
  return true;
}

}  // namespace attn
