#include "src/report/reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/base/json_strict.hpp"
#include "src/report/shard.hpp"

namespace attn {

using nlohmann::json;

bool known_verdict(std::string_view v) { return v == "pass" || v == "fail" || v == "error" || v == "unsupported"; }

namespace {

// The first field that breaks the report, with its JSON path. Thrown only inside this file, so
// each check below stays one line; parse_report turns it into a message.
struct Refusal {
  std::string path, why;
};

[[noreturn]] void refuse(const std::string& path, const std::string& why) { throw Refusal{path, why}; }

const char* type_name(const json& j) { return j.is_number() ? "a number" : j.is_null() ? "null" : j.type_name(); }

// One object and the path that leads to it; each accessor checks a member's type and range.
struct Obj {
  const json& j;
  std::string path;

  Obj(const json& value, std::string p) : j(value), path(std::move(p)) {
    if (!j.is_object()) refuse(path.empty() ? "(top level)" : path, fmt::format("expected an object, got {}", type_name(j)));
  }
  std::string at(const char* key) const { return path.empty() ? key : path + "." + key; }
  const json* get(const char* key, bool required) const {
    if (j.contains(key)) return &j.at(key);
    if (required) refuse(at(key), "missing");
    return nullptr;
  }
  const json* string(const char* key, bool required = false) const {
    const json* v = get(key, required);
    if (v && !v->is_string()) refuse(at(key), fmt::format("expected a string, got {}", type_name(*v)));
    return v;
  }
  void boolean(const char* key, bool required = false) const {
    const json* v = get(key, required);
    if (v && !v->is_boolean()) refuse(at(key), fmt::format("expected true or false, got {}", type_name(*v)));
  }
  // Integers only (no 1.5, no 1e3): the writers do integer arithmetic with them.
  void integer(const char* key, std::int64_t lo, std::int64_t hi, bool required = false) const {
    const json* v = get(key, required);
    if (!v) return;
    if (!v->is_number_integer()) refuse(at(key), fmt::format("expected an integer, got {}", type_name(*v)));
    // nlohmann keeps a non-negative integer as unsigned, which may exceed every int64.
    const bool in = v->is_number_unsigned()
                        ? hi >= 0 && v->get<std::uint64_t>() <= std::uint64_t(hi) && (lo <= 0 || v->get<std::uint64_t>() >= std::uint64_t(lo))
                        : v->get<std::int64_t>() >= lo && v->get<std::int64_t>() <= hi;
    if (!in) refuse(at(key), fmt::format("{} is outside [{}, {}]", v->dump(), lo, hi));
  }
  void number(const char* key, bool nullable, bool required = false) const {
    const json* v = get(key, required);
    if (!v || (nullable && v->is_null())) return;
    if (!v->is_number()) refuse(at(key), fmt::format("expected a number{}, got {}", nullable ? " or null" : "", type_name(*v)));
    if (!std::isfinite(v->get<double>())) refuse(at(key), "not a finite number");
  }
  const json* array(const char* key, bool required = false) const {
    const json* v = get(key, required);
    if (v && !v->is_array()) refuse(at(key), fmt::format("expected an array, got {}", type_name(*v)));
    return v;
  }
  void strings(const char* key, bool required = false) const {
    if (const json* v = array(key, required))
      for (std::size_t i = 0; i < v->size(); ++i)
        if (!(*v)[i].is_string()) refuse(fmt::format("{}[{}]", at(key), i), fmt::format("expected a string, got {}", type_name((*v)[i])));
  }
  // An index such as max_abs_index: null or integers.
  void index(const char* key) const {
    const json* v = get(key, false);
    if (!v || v->is_null()) return;
    if (!v->is_array()) refuse(at(key), fmt::format("expected an array of integers or null, got {}", type_name(*v)));
    for (std::size_t i = 0; i < v->size(); ++i)
      if (!(*v)[i].is_number_integer()) refuse(fmt::format("{}[{}]", at(key), i), "expected an integer");
  }
  // Each element of an array member as an object.
  template <class F>
  void objects(const char* key, bool required, F&& each) const {
    if (const json* v = array(key, required))
      for (std::size_t i = 0; i < v->size(); ++i) each(Obj((*v)[i], fmt::format("{}[{}]", at(key), i)));
  }
  template <class F>
  void object(const char* key, bool required, F&& each) const {
    if (const json* v = get(key, required)) each(Obj(*v, at(key)));
  }
};

// Sizes in a report are real tensor sizes; the bound keeps every product the writers form in range.
constexpr std::int64_t kMaxSize = std::int64_t(1) << 40;

void check_metrics(const Obj& m) {
  for (const char* f : {"mae", "max_abs", "max_rel", "rmse", "nmse", "pearson", "cosine", "min_atol", "min_rtol"}) m.number(f, true);
  m.number("pass_rate", false);
  m.index("max_abs_index");
  m.index("max_rel_index");
}

void check_heatmap(const Obj& h, bool tiles) {
  h.integer("rows", 0, 1 << 20, true);
  h.integer("cols", 0, 1 << 20, true);
  for (const char* f : {"row_step", "col_step"}) h.integer(f, 1, std::int64_t(1) << 31);
  for (const char* f : {"source_rows", "source_cols"}) h.integer(f, 0, kMaxSize);
  if (tiles)
    for (const char* f : {"q_tile", "kv_tile"}) h.integer(f, 0, kMaxSize);
  const std::size_t rows = h.j.at("rows").get<std::size_t>(), cols = h.j.at("cols").get<std::size_t>();
  const json& cells = *h.array("cells", true);
  if (cells.size() != rows) refuse(h.at("cells"), fmt::format("holds {} rows, 'rows' says {}", cells.size(), rows));
  for (std::size_t r = 0; r < rows; ++r) {
    const std::string row = fmt::format("{}[{}]", h.at("cells"), r);
    if (!cells[r].is_array() || cells[r].size() != cols) refuse(row, fmt::format("expected an array of {} cells", cols));
    for (const json& v : cells[r])
      if (!(v.is_null() || v.is_string() || (v.is_number() && std::isfinite(v.get<double>()))))
        refuse(row, "a cell is neither a number, null nor \"nonfinite\"");
  }
}

void check_breakdown(const Obj& b) {
  b.object("heatmap_head_token", true, [](const Obj& h) { check_heatmap(h, false); });
  b.object("heatmap_tiles", true, [](const Obj& h) { check_heatmap(h, true); });
  b.object("histogram", true, [](const Obj& h) {
    h.integer("bins_per_decade", 1, 1000, true);
    h.integer("first", -100000, 100000);
    h.integer("zero", 0, std::int64_t(1) << 62);
    h.integer("nonfinite", 0, std::int64_t(1) << 62);
    if (const json* counts = h.array("counts"))
      for (std::size_t k = 0; k < counts->size(); ++k) {
        const json& n = (*counts)[k];
        if (!n.is_number_integer() || (n.is_number_unsigned() ? n.get<std::uint64_t>() > (std::uint64_t(1) << 62) : n.get<std::int64_t>() < 0))
          refuse(fmt::format("{}[{}]", h.at("counts"), k), "expected a count (an integer >= 0)");
      }
  });
}

void check_case(const Obj& c, const std::string& suite) {
  const std::string verdict = c.string("verdict", true)->get<std::string>();
  c.string("name", true);
  if (!known_verdict(verdict))
    refuse(c.at("verdict"), fmt::format("unknown verdict '{}' (expected pass, fail, error or unsupported)", printable(verdict)));
  if (const json* s = c.string("suite"); s && *s != suite)
    refuse(c.at("suite"), fmt::format("'{}' is not the report's suite '{}'", printable(s->get<std::string>()), printable(suite)));
  for (const char* f : {"precision", "kernel", "error"}) c.string(f);
  c.object("shape", false, [](const Obj& s) {
    for (const char* f : {"batch", "tokens", "kv_tokens", "q_offset", "heads", "kv_heads", "head_dim"}) s.integer(f, 0, kMaxSize);
  });
  c.object("features", false, [](const Obj& f) {
    f.boolean("causal");
    f.integer("window", 0, kMaxSize);
    f.boolean("sinks");
  });
  c.object("tiles", false, [](const Obj& t) {
    t.integer("q", 0, kMaxSize);
    t.integer("kv", 0, kMaxSize);
  });
  c.integer("seed", 0, std::numeric_limits<std::int64_t>::max());
  c.strings("tags");
  if (const json* s = c.get("seconds", false); s && !(s->is_number() && s->get<double>() >= 0 && s->get<double>() <= 1e9))
    refuse(c.at("seconds"), "expected a number of seconds in [0, 1e9]");
  c.integer("peak_memory_bytes", 0, std::numeric_limits<std::int64_t>::max());
  c.object("metrics", false, [](const Obj& m) {
    for (const char* f : {"vs_golden", "vs_naive", "naive_vs_golden"}) m.object(f, true, check_metrics);
    m.object("expected_vs_golden", false, check_metrics);
  });
  c.object("explained", false, [](const Obj& e) {
    for (const char* f : {"candidate_max_abs", "naive_max_abs", "tiled_max_abs", "candidate_mae", "naive_mae", "tiled_mae"})
      e.number(f, true);
    e.string("note");
  });
  c.strings("coverage");
  c.strings("failures");
  c.objects("gates", false, [](const Obj& g) {
    g.string("name");
    g.number("bound", true);
    g.number("value", true);
    g.boolean("pass");
    g.string("note");
  });
  c.objects("worst", false, [](const Obj& w) {
    w.index("index");
    for (const char* f : {"candidate", "reference", "abs_err"}) w.number(f, true);
  });
  c.object("breakdown", false, check_breakdown);
  c.object("localisation", false, [](const Obj& l) {  // src/judge/localisation.hpp
    l.string("summary", true);
    l.boolean("located");
    l.boolean("spread");
    l.objects("findings", false, [](const Obj& f) {
      f.string("axis", true);
      f.string("text");
    });
    l.objects("checks", false, [](const Obj& k) {
      k.string("name", true);
      k.string("text", true);
    });
  });
  c.object("baseline", false, [](const Obj& b) {
    for (const char* f : {"max_abs", "mae", "max_abs_change", "mae_change"}) b.number(f, true);
  });
  c.object("diagnosis", false, [](const Obj& d) {
    d.string("verdict");  // src/judge/diagnosis.hpp: the explaining hypothesis or "unexplained"
    d.objects("hypotheses", true, [](const Obj& h) {
      h.string("name");
      h.number("score", false);
      h.string("evidence");
    });
  });
}

void check_report(const json& doc) {
  const Obj r(doc, "");
  const json* schema = r.get("schema", true);
  if (*schema != "attn-diff.report.v1") refuse("schema", fmt::format("{} is not \"attn-diff.report.v1\"", printable(schema->dump())));
  r.object("tool", true, [](const Obj& t) {
    t.string("name", true);
    t.string("version", true);
  });
  const std::string suite = r.string("suite", true)->get<std::string>();
  r.string("config", true);
  if (const json* shard = r.string("shard")) {
    std::string why;
    if (!parse_shard(shard->get<std::string>(), &why)) refuse("shard", fmt::format("'{}' is not I/N", printable(shard->get<std::string>())));
  }
  // What the run was (src/report/report.hpp): compared as a whole by merge, so only its shape is checked.
  r.object("run", false, [](const Obj& run) {
    for (const auto& [key, v] : run.j.items())
      if (v.is_object() || (v.is_array() && std::any_of(v.begin(), v.end(), [](const json& x) { return !x.is_string(); })))
        refuse(run.at(key.c_str()), "expected a string, number, true/false, null or an array of strings");
  });
  r.strings("merged_from");
  r.object("baseline", false, [](const Obj& b) {
    if (const json* f = b.get("file", false); f && !f->is_string()) b.strings("file");
    b.strings("new");
    b.strings("vanished");
  });
  std::map<std::string, std::int64_t> counts;
  std::set<std::string> names;
  r.objects("cases", true, [&](const Obj& c) {
    check_case(c, suite);
    const std::string name = c.j.at("name").get<std::string>();
    if (!names.insert(name).second) refuse(c.at("name"), fmt::format("case '{}' is in the report twice", printable(name)));
    ++counts[c.j.at("verdict").get<std::string>()];
  });
  r.object("summary", true, [&](const Obj& s) {
    const std::int64_t n = std::int64_t(doc.at("cases").size());
    for (const auto& [key, verdict] : {std::pair{"cases", ""}, {"passed", "pass"}, {"failed", "fail"}, {"errors", "error"},
                                       {"unsupported", "unsupported"}}) {
      s.integer(key, 0, std::numeric_limits<std::int64_t>::max(), true);
      const std::int64_t want = *verdict ? counts[verdict] : n;
      if (s.j.at(key).get<std::int64_t>() != want)
        refuse(s.at(key), fmt::format("says {} but the cases hold {}", s.j.at(key).get<std::int64_t>(), want));
    }
    s.boolean("incomplete");
    s.integer("not_run", 0, std::numeric_limits<std::int32_t>::max());  // the writers show it as an int
    if (s.j.value("not_run", std::int64_t(0)) > 0 && !s.j.value("incomplete", false))
      refuse(s.at("not_run"), "cases were not run, yet 'incomplete' is not true");
  });
}

}  // namespace

bool parse_report(std::string_view text, const std::string& file, json* out, std::string* err) {
  const char* note = "\nnote: merge reads the JSON reports `attn-diff run --json` writes (SPEC §8)";
  // The one place a report's text becomes JSON: the strict parser (NUL bytes, duplicate keys such
  // as a second "cases" list, too deep nesting, malformed text, each with its line:col).
  JsonError json_err;
  std::optional<json> parsed = parse_json_strict(text, &json_err);
  if (!parsed) {
    *err = json_err.format(file) + (json_err.note.empty() ? note : "");
    return false;
  }
  json doc = std::move(*parsed);
  try {
    check_report(doc);
  } catch (const Refusal& r) {
    *err = fmt::format("{}: error: {}: {}{}", file, printable(r.path), r.why, note);
    return false;
  }
  *out = std::move(doc);
  return true;
}

bool read_report_file(const std::string& path, json* out, std::string* err) {
  std::string text, why;
  if (!read_text_file(path, &text, &why)) {
    *err = fmt::format("{}: error: cannot read the report: {}\nnote: pass the files `attn-diff run --json` wrote",
                       printable(path), why);
    return false;
  }
  return parse_report(text, path, out, err);
}

}  // namespace attn
