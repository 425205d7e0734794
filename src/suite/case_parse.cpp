#include "src/suite/case_parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/suite/json_reader.hpp"
#include "src/suite/memory_estimate.hpp"
#include "src/suite/numeric_limits_check.hpp"

namespace attn {

using nlohmann::json;

const std::vector<std::string>& case_keys() {
  static const std::vector<std::string> keys = {
      "name",   "batch",     "tokens", "kv_tokens", "q_offset", "heads", "kv_heads",
      "head_dim", "causal",  "window", "sinks",     "scale",    "precision", "exp2",
      "mask_value", "tiles", "seed",   "inputs",    "tolerance", "gates", "tags", "backward", "grad_output"};
  return keys;
}


std::optional<Tolerance> tolerance_preset(const std::string& name, const Recipe& recipe) {
  if (name == "recipe") return default_tolerance(recipe);
  if (name != "torch") return std::nullopt;
  // torch.testing.assert_close's defaults for the output dtype (integers compare exactly).
  switch (recipe.output) {
    case DType::f64: return Tolerance{.atol = 1e-7, .rtol = 1e-7};
    case DType::f32: return Tolerance{.atol = 1e-5, .rtol = 1.3e-6};
    case DType::bf16: return Tolerance{.atol = 1e-5, .rtol = 1.6e-2};
    case DType::f16: return Tolerance{.atol = 1e-5, .rtol = 1e-3};
    case DType::e4m3: return Tolerance{.atol = 1e-5, .rtol = 1.25e-1};
    case DType::e5m2: return Tolerance{.atol = 1e-5, .rtol = 2.5e-1};
    case DType::int8: return Tolerance{.atol = 0.0, .rtol = 0.0};
  }
  return std::nullopt;
}

namespace {

const std::vector<std::string> kTileKeys = {"q", "kv"};
const std::vector<std::string> kToleranceKeys = {"atol", "rtol", "bands"};
const std::vector<std::string> kRelativeGateKeys = {"k", "eps"};

void apply_gates(JsonReader& rd, const json& gates, std::vector<GateSpec>* out) {
  std::vector<std::string> names;
  for (const GateKind& k : gate_kinds()) names.push_back(k.name);
  for (const auto& [key, v] : gates.items()) {
    const GateKind* kind = find_gate_kind(key);
    if (!kind) {
      const std::string near = nearest(key, names);
      rd.error(fmt::format("unknown gate 'gates.{}'{}", key, near.empty() ? "" : fmt::format(" (did you mean 'gates.{}'?)", near)),
               fmt::format("known gates: {}", fmt::join(names, ", ")));
      continue;
    }
    auto it = std::find_if(out->begin(), out->end(), [&key = key](const GateSpec& g) { return g.name == key; });
    if (v.is_null()) {  // null switches a default gate off
      if (it != out->end()) out->erase(it);
      continue;
    }
    GateSpec g{.name = key};
    if (it != out->end()) g = *it;
    const std::string label = "gates." + key;
    if (kind->relative) {
      if (v.is_object()) {
        rd.check_keys(v, kRelativeGateKeys, label + ".");
        if (auto k = rd.nonneg(v, "k", label + ".k")) g.k = *k;
        if (auto e = rd.nonneg(v, "eps", label + ".eps")) g.eps = *e;
      } else if (v.is_number()) {
        json wrapper = {{"k", v}};
        if (auto k = rd.nonneg(wrapper, "k", label)) g.k = *k;
      } else {
        rd.error(fmt::format("key '{}' must be a number (k), an object {{\"k\", \"eps\"}} or null, got {}", label, json_type_name(v)));
        continue;
      }
    } else {
      json wrapper = {{"bound", v}};
      auto b = rd.number(wrapper, "bound", label);
      if (!b) continue;
      if (!std::isfinite(*b)) {
        rd.error(fmt::format("key '{}' must be finite", label));
        continue;
      }
      g.bound = *b;
    }
    if (it != out->end()) *it = g;
    else out->push_back(g);
  }
}

// The steps of parse_case, in the order it calls them: the order of the messages a bad case gets.
// Each reads `merged` (the case over defaults) and reports through `rd`; a step that checks
// across keys does so only for a whole case (`whole`) and only while no error was found, so
// that one bad key is reported once, not again as a consequence.

// Where messages about the case point: "defaults", "case 'NAME'" or, while the name is missing or
// unusable, "case #N".
std::string case_label(const json& raw, std::size_t position, bool defaults_only) {
  std::string label = defaults_only ? "defaults" : fmt::format("case #{}", position + 1);
  if (!defaults_only && raw.is_object() && raw.contains("name") && raw.at("name").is_string() &&
      !raw.at("name").get<std::string>().empty() && !has_unprintable(raw.at("name").get<std::string>()))
    label = fmt::format("case '{}'", raw.at("name").get<std::string>());
  return label;
}

void parse_name(JsonReader& rd, const json& raw, bool defaults_only, std::string* name) {
  if (defaults_only) {
    if (raw.contains("name")) rd.error("key 'name' cannot stand in defaults", "each case names itself");
  } else if (!raw.contains("name")) {
    rd.error("missing key 'name'", "every case needs a unique name");
  } else if (!raw.at("name").is_string() || raw.at("name").get<std::string>().empty()) {
    rd.error(fmt::format("key 'name' must be a non-empty string, got {}", raw.at("name").dump()));
  } else if (has_unprintable(raw.at("name").get<std::string>())) {  // printable() escapes them in the message
    rd.error(fmt::format("key 'name' must not contain control characters (nor bidi or zero-width ones), got {}", raw.at("name").dump()),
             "names are printed in tables, logs and reports, where such characters act on the terminal "
             "or hide what the name says");
  } else {
    *name = raw.at("name").get<std::string>();
  }
}

// precision (a preset, "preset+key=value...", or {"preset": ..., key: value}), exp2 and mask_value.
// The case's exp2 and mask_value apply to the preset first, so a precision override naming them wins.
Recipe parse_recipe(JsonReader& rd, const json& merged) {
  Recipe recipe = *recipe_by_name("bf16-mixed");
  RecipeOverrides overrides;
  std::string err;
  bool failed = false;
  const json* v = merged.contains("precision") ? &merged.at("precision") : nullptr;
  auto bad = [&](const std::string& why) {
    rd.error(fmt::format("key 'precision': {}", why),
             "a recipe is a preset with overrides; the keys and their values are in docs/precision.md");
    failed = true;
  };
  const std::string forms = "a preset may take +key=value overrides (\"fp32+kv=fp16+acc_pv=fp16\") or be an object "
                            "{\"preset\": \"fp32\", \"kv\": \"fp16\"} (docs/precision.md)";
  auto not_preset = [&](const std::string& got, const std::string& near) {
    rd.error(fmt::format("key 'precision' must be one of {}, got {}{}", fmt::join(recipe_names(), ", "), got,
                         near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)),
             forms);
    failed = true;
  };
  if (v && v->is_string()) {
    const std::string text = v->get<std::string>();
    const std::string head = text.substr(0, text.find('+'));
    if (!recipe_by_name(head)) not_preset(json(head).dump(), nearest(head, recipe_names()));
    else if (!split_recipe_text(text, &recipe, &overrides, &err)) bad(err);
  } else if (v && v->is_object()) {
    const json* p = v->contains("preset") ? &v->at("preset") : nullptr;
    if (!p || !p->is_string() || !recipe_by_name(p->get<std::string>())) {
      bad(fmt::format("an object needs \"preset\": one of {}{}", fmt::join(recipe_names(), ", "),
                      p ? fmt::format(", got {}", p->dump()) : ""));
    } else {
      recipe = *recipe_by_name(p->get<std::string>());
    }
    for (const auto& [key, value] : v->items()) {
      if (key == "preset") continue;
      if (value.is_string()) overrides.emplace_back(key, value.get<std::string>());
      else if (value.is_boolean() || value.is_number()) overrides.emplace_back(key, value.dump());
      else bad(fmt::format("'{}' must be a string, got {}", key, json_type_name(value)));
    }
  } else if (v) {
    not_preset(v->dump(), "");
  }
  if (auto x = rd.boolean(merged, "exp2")) recipe.exp2 = *x;
  if (merged.contains("mask_value")) {
    const json& m = merged.at("mask_value");
    if (m.is_string() && m.get<std::string>() == "-inf") recipe.mask_value = -std::numeric_limits<float>::infinity();
    else if (m.is_number() && m.get<double>() < 0 && std::isfinite(static_cast<float>(m.get<double>())))
      recipe.mask_value = static_cast<float>(m.get<double>());  // past float32's range it would be -inf unasked
    else rd.error(fmt::format("key 'mask_value' must be a negative number or \"-inf\", got {}", m.dump()));
  }
  if (failed) return recipe;
  if (std::optional<Recipe> r = apply_recipe_overrides(recipe, overrides, &err)) return *r;
  bad(err);
  return recipe;
}

// The sizes, the heads' grouping and where the queries sit among the keys.
void parse_shape(JsonReader& rd, const json& merged, bool defaults_only, Shape* shape) {
  Shape& s = *shape;
  auto required = [&](const char* key, std::int64_t* slot) {
    if (!merged.contains(key)) {
      if (!defaults_only) rd.error(fmt::format("missing key '{}'", key), "set it in the case or in \"defaults\"");
    } else if (auto x = rd.integer(merged, key, 1)) *slot = *x;
  };
  if (auto x = rd.integer(merged, "batch", 1)) s.batch = *x;
  required("tokens", &s.tokens);
  required("heads", &s.heads);
  required("head_dim", &s.head_dim);
  s.kv_tokens = s.tokens;
  if (auto x = rd.integer(merged, "kv_tokens", 1)) s.kv_tokens = *x;
  s.kv_heads = s.heads;
  if (auto x = rd.integer(merged, "kv_heads", 1)) s.kv_heads = *x;
  const bool whole = !defaults_only;
  if (whole && rd.ok() && s.heads % s.kv_heads != 0)
    rd.error(fmt::format("key 'kv_heads' ({}) must divide 'heads' ({})", s.kv_heads, s.heads),
             "grouped-query attention maps query head h to kv head h / (heads / kv_heads)");
  s.q_offset = s.kv_tokens - s.tokens;
  // A negative offset is allowed: queries before the first key (e.g. kv_tokens < tokens) are
  // rows with no visible key under causal masking, which SPEC §2 defines as exactly 0.
  if (auto x = rd.integer(merged, "q_offset", -(std::int64_t(1) << 50))) s.q_offset = *x;
  if (whole && rd.ok() && s.q_offset + s.tokens > s.kv_tokens)
    rd.error(fmt::format("queries end past the keys: q_offset ({}) + tokens ({}) > kv_tokens ({})", s.q_offset,
                         s.tokens, s.kv_tokens),
             "queries sit at positions q_offset .. q_offset + tokens - 1 of the kv_tokens keys");
}

// causal, window and scale (which defaults to 1/sqrt(head_dim), so the shape comes first).
void parse_masking_and_scale(JsonReader& rd, const json& merged, Problem* problem) {
  if (auto x = rd.boolean(merged, "causal")) problem->causal = *x;
  if (auto x = rd.integer(merged, "window", 0)) problem->window = *x;
  problem->scale = 1.0 / std::sqrt(double(problem->shape.head_dim));
  if (auto x = rd.number(merged, "scale")) {
    if (*x > 0 && *x <= std::numeric_limits<float>::max()) problem->scale = *x;  // kernels scale in float
    else rd.error(fmt::format("key 'scale' must be a finite number > 0 (at most 3.4e38, float32), got {}", *x));
  }
}

// null, one number for every head, a list of one per head, or a distribution.
SinksSpec parse_sinks(JsonReader& rd, const json& merged, bool whole, std::int64_t heads) {
  SinksSpec sinks;
  if (!merged.contains("sinks")) return sinks;
  const json& v = merged.at("sinks");
  if (v.is_number()) {
    if (!std::isfinite(v.get<double>())) rd.error("key 'sinks' must be finite");
    sinks = {.kind = SinksSpec::Kind::constant, .values = {v.get<double>()}};
  } else if (v.is_array()) {
    sinks.kind = SinksSpec::Kind::list;
    for (const json& e : v) {
      if (!e.is_number() || !std::isfinite(e.get<double>())) {
        rd.error(fmt::format("key 'sinks' must hold finite numbers, got {}", e.dump()));
        break;
      }
      sinks.values.push_back(e.get<double>());
    }
    if (whole && rd.ok() && std::int64_t(sinks.values.size()) != heads)
      rd.error(fmt::format("key 'sinks' has {} values but the case has {} heads", sinks.values.size(), heads),
               "give one sink logit per query head, a single number for all heads, or a distribution");
  } else if (v.is_object()) {
    sinks.kind = SinksSpec::Kind::random;
    sinks.dist = read_distribution(rd, v, "sinks");
  } else if (!v.is_null()) {
    rd.error(fmt::format("key 'sinks' must be null, a number, a list of {} numbers or a distribution object, got {}",
                         heads, json_type_name(v)));
  }
  return sinks;
}

void parse_tiles(JsonReader& rd, const json& merged, TileSizes* tiles) {
  if (const json* t = rd.object(merged, "tiles")) {
    rd.check_keys(*t, kTileKeys, "tiles.");
    if (auto x = rd.integer(*t, "q", 1, "tiles.q")) tiles->q = *x;
    if (auto x = rd.integer(*t, "kv", 1, "tiles.kv")) tiles->kv = *x;
  }
}

// The case's seed, or the override of LoadOptions (--seed) in its place.
void parse_seed(JsonReader& rd, const json& merged, const LoadOptions& opt, std::uint64_t* seed) {
  if (auto x = rd.integer(merged, "seed", 0, "", std::int64_t(kMaxSeed))) *seed = static_cast<std::uint64_t>(*x);
  if (opt.seed && *opt.seed > kMaxSeed)  // the command line checks --seed; this is the library's guard
    rd.error(fmt::format("the seed override {} is past the largest seed {} (2^53 - 1)", *opt.seed, kMaxSeed));
  else if (opt.seed) *seed = *opt.seed;
}

// A preset name ("torch", "recipe") or an object {atol, rtol, bands} over the recipe's default.
Tolerance parse_tolerance(JsonReader& rd, const json& merged, const Recipe& recipe) {
  Tolerance tolerance = default_tolerance(recipe);
  if (merged.contains("tolerance") && merged.at("tolerance").is_string()) {
    const std::string preset = merged.at("tolerance").get<std::string>();
    if (auto t = tolerance_preset(preset, recipe)) tolerance = *t;
    else rd.error(fmt::format("key 'tolerance' names no preset: \"{}\" (known: \"torch\", \"recipe\")", preset),
                  "or give an object {\"atol\", \"rtol\", \"bands\"}");
  } else if (const json* t = rd.object(merged, "tolerance")) {
    rd.check_keys(*t, kToleranceKeys, "tolerance.");
    if (auto x = rd.nonneg(*t, "atol", "tolerance.atol")) tolerance.atol = *x;
    if (auto x = rd.nonneg(*t, "rtol", "tolerance.rtol")) tolerance.rtol = *x;
    if (t->contains("bands")) {
      const json& b = t->at("bands");
      tolerance.bands.clear();
      if (!b.is_array()) rd.error(fmt::format("key 'tolerance.bands' must be a list of numbers, got {}", json_type_name(b)));
      else
        for (const json& e : b) {
          if (!e.is_number() || !(e.get<double>() >= 0)) {
            rd.error(fmt::format("key 'tolerance.bands' must hold numbers >= 0, got {}", e.dump()));
            break;
          }
          tolerance.bands.push_back(e.get<double>());
        }
    }
  }
  return tolerance;
}

// The recipe's default gates, changed by `gates` of defaults and then by the case's own: the two
// objects are applied in turn, not merged, so that a case's null switches a gate off whether the
// recipe or defaults set it.
std::vector<GateSpec> parse_gates(JsonReader& rd, const json& defaults, const json& raw, const Recipe& recipe) {
  std::vector<GateSpec> gates = default_gates(recipe);
  for (const json* g : {defaults.contains("gates") ? &defaults.at("gates") : nullptr,
                        raw.contains("gates") ? &raw.at("gates") : nullptr}) {
    if (!g) continue;
    if (!g->is_object()) rd.error(fmt::format("key 'gates' must be an object, got {}", json_type_name(*g)));
    else apply_gates(rd, *g, &gates);
  }
  return gates;
}

void parse_tags(JsonReader& rd, const json& merged, std::vector<std::string>* tags) {
  if (merged.contains("tags")) {
    const json& t = merged.at("tags");
    if (!t.is_array() || !std::all_of(t.begin(), t.end(), [](const json& e) { return e.is_string(); }))
      rd.error(fmt::format("key 'tags' must be a list of strings, got {}", t.dump()));
    else *tags = t.get<std::vector<std::string>>();
  }
}

// A whole case's tensors must be addressable and fit the memory limit.
void check_size(JsonReader& rd, const CaseSpec& c, const LoadOptions& opt) {
  const Shape& s = c.problem.shape;
  const auto q = checked_product({s.batch, s.tokens, s.heads, s.head_dim});
  const auto kv = checked_product({s.batch, s.kv_tokens, s.kv_heads, s.head_dim});
  const auto pairs = checked_product({s.tokens, s.kv_tokens});
  if (!q || !kv || !pairs || *q > (std::int64_t(1) << 50) || *kv > (std::int64_t(1) << 50)) {
    rd.error("the tensor sizes overflow: batch × tokens × heads × head_dim is too large to address",
             fmt::format("batch {}, tokens {}, kv_tokens {}, heads {}, kv_heads {}, head_dim {}", s.batch, s.tokens,
                         s.kv_tokens, s.heads, s.kv_heads, s.head_dim));
  } else {
    const std::uint64_t need = estimate_memory(c, opt.threads);
    if (need > opt.max_memory)
      rd.error(fmt::format("the case needs about {} but the memory limit is {}", human_bytes(need),
                           human_bytes(opt.max_memory)),
               "raise it with --max-memory BYTES (suffixes K, M, G) or shrink the case");
  }
}

}  // namespace

bool parse_case(const json& defaults, const json& raw, std::size_t position, const std::string& file,
                const LoadOptions& opt, CaseSpec* out, Diagnostics* diags, bool defaults_only) {
  JsonReader rd(file, case_label(raw, position, defaults_only), diags);
  if (!raw.is_object()) {
    rd.error(fmt::format("a case must be an object, got {}", json_type_name(raw)));
    return false;
  }
  rd.check_keys(raw, case_keys(), "");
  json merged = defaults;
  json patch = raw;
  patch.erase("gates");
  merged.merge_patch(patch);
  // Checks across keys only for a whole case: a default is combined with what each case sets.
  const bool whole = !defaults_only;

  CaseSpec c;
  parse_name(rd, raw, defaults_only, &c.name);
  c.recipe = parse_recipe(rd, merged);  // first: it decides the default tolerance and gates
  parse_shape(rd, merged, defaults_only, &c.problem.shape);
  parse_masking_and_scale(rd, merged, &c.problem);
  c.sinks = parse_sinks(rd, merged, whole, c.problem.shape.heads);
  c.problem.has_sinks = c.sinks.kind != SinksSpec::Kind::none;
  parse_tiles(rd, merged, &c.tiles);
  parse_seed(rd, merged, opt, &c.seed);
  if (const json* d = rd.object(merged, "inputs")) c.inputs = read_distribution(rd, *d, "inputs");
  if (auto b = rd.boolean(merged, "backward")) c.backward = *b;
  c.grad_output = c.inputs;
  if (const json* d = rd.object(merged, "grad_output")) c.grad_output = read_distribution(rd, *d, "grad_output");
  // SPEC §10 names the backward's rounding for fp32 and the 16-bit recipes only.
  if (whole && c.backward && (c.recipe.scaled_input() || c.recipe.narrow_internals() || scaled_dtype(c.recipe.probs)))
    rd.error(fmt::format("key 'backward': the {} recipe has no backward pass", recipe_spec(c.recipe)),
             "the backward runs fp32, bf16-mixed and fp16-mixed and their input, P and output formats; fp8 and int8 "
             "inputs, P in fp8 and narrow scores or accumulators have no backward recipe yet (docs/backward.md)");
  if (whole && !c.backward && merged.contains("grad_output"))
    rd.error("key 'grad_output' is set but the case has no backward pass", "add \"backward\": true, or remove 'grad_output'");
  if (whole && rd.ok())  // src/suite/numeric_limits_check.hpp: ranges the recipe cannot compute are refused
    for (const NumericIssue& issue : check_numeric_limits(c)) rd.error(issue.message, issue.note);
  c.tolerance = parse_tolerance(rd, merged, c.recipe);
  c.gates = parse_gates(rd, defaults, raw, c.recipe);
  parse_tags(rd, merged, &c.tags);
  if (whole && rd.ok()) check_size(rd, c, opt);
  if (!rd.ok()) return false;
  *out = std::move(c);
  return true;
}

}  // namespace attn
