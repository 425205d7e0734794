#include "src/suite/config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"
#include "src/suite/case_parse.hpp"
#include "src/suite/json_reader.hpp"
#include "src/suite/recipe.hpp"

namespace attn {

using nlohmann::json;

namespace {

// "dump" is written by `attn-diff dump` into case.json (what was dumped, input scales); the loader ignores it.
const std::vector<std::string> kTopKeys = {"suite", "description", "defaults", "cases", "dump"};

}  // namespace

json with_precision(json doc, const std::string& recipe) {
  auto patch = [&](json& o) {
    if (!o.is_object()) return;
    o.erase("tolerance");
    o.erase("gates");
    o["precision"] = recipe;
  };
  if (!doc.is_object()) return doc;
  if (doc.contains("defaults")) patch(doc["defaults"]);
  if (doc.contains("cases") && doc["cases"].is_array())
    for (auto& c : doc["cases"]) patch(c);
  return doc;
}

bool parse_suite(const json& given, const std::string& file, const LoadOptions& opt, Suite* out, Diagnostics* diags) {
  JsonReader top(file, "", diags);
  std::string why;
  if (opt.precision && !parse_recipe_text(*opt.precision, &why)) {  // the command line checks it; this is the library's guard
    top.error(fmt::format("the precision override: {}", printable(why)));
    return false;
  }
  const json patched = opt.precision ? with_precision(given, *opt.precision) : json();
  const json& doc = opt.precision ? patched : given;
  if (!doc.is_object()) {
    top.error(fmt::format("the file must hold a JSON object with \"cases\", got {}", json_type_name(doc)));
    return false;
  }
  top.check_keys(doc, kTopKeys, "");
  Suite suite;
  suite.file = file;
  for (const char* key : {"suite", "description"}) {
    if (!doc.contains(key)) continue;
    if (!doc.at(key).is_string()) top.error(fmt::format("key '{}' must be a string, got {}", key, json_type_name(doc.at(key))));
    else (std::string(key) == "suite" ? suite.name : suite.description) = doc.at(key).get<std::string>();
  }
  if (has_unprintable(suite.name))  // printable() escapes them in the message
    top.error(fmt::format("key 'suite' must not contain control characters (nor bidi or zero-width ones), got {}", doc.at("suite").dump()),
              "the suite name is printed in the summary line and in every report");
  json defaults = json::object();
  if (doc.contains("defaults")) {
    JsonReader rd(file, "defaults", diags);
    if (!doc.at("defaults").is_object()) rd.error(fmt::format("key 'defaults' must be an object, got {}", json_type_name(doc.at("defaults"))));
    else defaults = doc.at("defaults");
    if (!rd.ok()) return false;
    // Every value of defaults is checked here, also those every case overrides; a bad one is
    // reported once, at defaults, rather than in every case that inherits it.
    CaseSpec ignored;
    if (!parse_case(json::object(), defaults, 0, file, opt, &ignored, diags, /*defaults_only=*/true)) return false;
  }
  if (!doc.contains("cases") || !doc.at("cases").is_array() || doc.at("cases").empty()) {
    top.error("key 'cases' must be a non-empty list of case objects");
    return false;
  }
  if (!top.ok()) return false;
  bool ok = true;
  std::set<std::string> seen;
  const json& cases = doc.at("cases");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CaseSpec c;
    if (!parse_case(defaults, cases[i], i, file, opt, &c, diags)) {
      ok = false;
      continue;
    }
    if (!seen.insert(c.name).second) {
      diags->push_back({file, fmt::format("case '{}'", c.name), fmt::format("duplicate case name '{}'", c.name),
                        "case names must be unique: reports and --case select by name"});
      ok = false;
      continue;
    }
    suite.cases.push_back(std::move(c));
  }
  if (!ok) return false;
  if (suite.name.empty()) suite.name = printable(file);  // a path can hold anything
  *out = std::move(suite);
  return true;
}

bool parse_suite_text(std::string_view s, const std::string& path, const LoadOptions& opt, Suite* out,
                      Diagnostics* diags) {
  JsonError e;
  const std::optional<json> doc = parse_json_strict(s, &e);
  if (!doc) {
    diags->push_back({fmt::format("{}:{}:{}", path, e.at.line, e.at.column), "", e.what(), e.note});
    return false;
  }
  return parse_suite(*doc, path, opt, out, diags);
}

bool load_suite(const std::string& path, const LoadOptions& opt, Suite* out, Diagnostics* diags) {
  std::string text, why;
  if (!read_text_file(path, &text, &why)) {  // a FIFO or a device is refused, not waited on
    diags->push_back({path, "", why == "is a directory, not a file" ? "is a directory, not a suite file" : why, ""});
    return false;
  }
  return parse_suite_text(text, path, opt, out, diags);
}

}  // namespace attn
