#include "src/io/manifest.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"

namespace attn {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kManifestSchema = "attn-diff.dump-manifest.v1";

}  // namespace

std::string manifest_path(const std::string& dir) { return (fs::path(dir) / kManifestFile).string(); }

bool write_manifest(const ManifestRequest& req, const std::vector<const CaseSpec*>& cases, std::string* err) {
  ordered_json list = ordered_json::array();
  for (const CaseSpec* c : cases) {
    const Shape& s = c->problem.shape;
    list.push_back({{"name", c->name},
                    {"dir", c->name},
                    {"out", c->name + ".npy"},
                    {"precision", c->recipe.name},
                    {"input_dtype", input_dtype_label(c->recipe)},
                    {"sinks", c->problem.has_sinks},
                    {"shape", {{"batch", s.batch}, {"tokens", s.tokens}, {"kv_tokens", s.kv_tokens},
                               {"q_offset", s.q_offset}, {"heads", s.heads}, {"kv_heads", s.kv_heads},
                               {"head_dim", s.head_dim}}},
                    {"out_shape", {s.batch, s.tokens, s.heads, s.head_dim}}});
  }
  const ordered_json doc = {{"schema", kManifestSchema},
                            {"tool", {{"name", "attn-diff"}, {"version", ATTN_DIFF_VERSION}}},
                            {"suite", req.suite},
                            {"config", printable(req.config)},
                            {"config_digest", req.config_digest},
                            {"seed", req.seed ? ordered_json(*req.seed) : ordered_json(nullptr)},
                            {"format", dump_format_name(req.format)},
                            {"layout", "bshd"},
                            {"cases", list}};
  return write_file_atomic(manifest_path(req.dir), doc.dump(2) + "\n", err);
}

bool load_manifest(const std::string& dir, Manifest* out, Diagnostics* diags) {
  out->dir = dir;
  out->file = manifest_path(dir);
  const std::string note = "manifest.json is written by `attn-diff dump --all` (or a glob); dump the suite again";
  auto bad = [&](const std::string& key, const std::string& what, const std::string& hint = "") {
    diags->push_back({out->file, "", fmt::format("'{}' {}", key, printable(what)), hint.empty() ? note : hint});
    return false;
  };
  std::string text, why;
  if (!read_text_file(out->file, &text, &why)) {
    diags->push_back({out->file, "", why, note});
    return false;
  }
  JsonError e;
  const std::optional<json> parsed = parse_json_strict(text, &e);
  if (!parsed) {
    diags->push_back({fmt::format("{}:{}:{}", out->file, e.at.line, e.at.column), "", e.what(), note});
    return false;
  }
  const json& doc = *parsed;
  if (!doc.is_object()) return bad("manifest", "is " + json_type_with_article(doc) + ", not an object");
  if (!doc.contains("schema")) return bad("schema", "is missing");
  if (doc["schema"] != kManifestSchema)
    return bad("schema", fmt::format("is {}, not \"{}\"", doc["schema"].dump(), kManifestSchema));
  auto string_key = [&](const char* key, std::string* to, bool required) {
    if (!doc.contains(key)) return !required || bad(key, "is missing");
    if (!doc[key].is_string()) return bad(key, "is " + json_type_with_article(doc[key]) + ", not a string");
    *to = doc[key].get<std::string>();
    return true;
  };
  if (!string_key("suite", &out->suite, true) || !string_key("config", &out->config, false) ||
      !string_key("config_digest", &out->config_digest, false))
    return false;
  out->seed = doc.value("seed", json(nullptr));
  if (!out->seed.is_null() && !out->seed.is_number_unsigned()) return bad("seed", "is " + json_type_with_article(out->seed) + ", not a seed");
  if (!doc.contains("cases")) return bad("cases", "is missing");
  const json& cases = doc["cases"];
  if (!cases.is_array()) return bad("cases", "is " + json_type_with_article(cases) + ", not an array");
  if (cases.empty()) return bad("cases", "is empty");
  std::set<std::string> names;
  out->cases.clear();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string at = fmt::format("cases[{}]", i);
    const json& c = cases[i];
    if (!c.is_object()) return bad(at, "is " + json_type_with_article(c) + ", not an object");
    ManifestCase mc;
    for (auto [key, to] : {std::pair{"name", &mc.name}, std::pair{"dir", &mc.dir}, std::pair{"out", &mc.out}}) {
      if (!c.contains(key)) return bad(at + "." + key, "is missing");
      if (!c[key].is_string()) return bad(at + "." + key, "is " + json_type_with_article(c[key]) + ", not a string");
      *to = c[key].get<std::string>();
    }
    if (mc.name.empty()) return bad(at + ".name", "is empty");
    if (!names.insert(mc.name).second) return bad(at + ".name", fmt::format("'{}' is listed twice", mc.name));
    if (const std::string w = outside_folder(dir, mc.dir, "the manifest's folder"); !w.empty())
      return bad(at + ".dir", fmt::format("'{}' {}", mc.dir, w));
    const fs::path rel(mc.out);
    bool dotdot = false;
    for (const fs::path& part : rel) dotdot = dotdot || part == "..";
    if (mc.out.empty() || rel.is_absolute() || dotdot)
      return bad(at + ".out", fmt::format("'{}' is not a file name relative to the outputs folder", mc.out),
                 "\"out\" is where compare looks for the case's output, relative to --candidate DIR");
    const fs::path case_dir = fs::path(dir) / mc.dir;
    std::error_code ec;
    if (!fs::is_directory(case_dir, ec))
      return bad(at + ".dir", fmt::format("names '{}', which is not a folder", case_dir.string()),
                 "the tree is incomplete or was moved: dump the suite again");
    if (!fs::is_regular_file(case_dir / "case.json", ec))
      return bad(at + ".dir", fmt::format("names '{}', which holds no case.json", case_dir.string()),
                 "the tree is incomplete or was moved: dump the suite again");
    out->cases.push_back(std::move(mc));
  }
  return true;
}

}  // namespace attn
