#include "src/suite/recipe.hpp"

#include "src/base/diagnostic.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace attn {

namespace {

Recipe preset(std::string name, DType input, DType probs, DType output, DType eager, std::string note = "") {
  return {.name = name, .preset = name, .q = input, .k = input, .v = input, .sinks = input, .probs = probs,
          .output = output, .eager = eager, .note = std::move(note)};
}

// The table of SPEC §3.
const std::vector<Recipe>& builtin_recipes() {
  using D = DType;
  static const std::vector<Recipe> table = {
      preset("fp32", D::f32, D::f32, D::f32, D::f32),
      preset("bf16-mixed", D::bf16, D::bf16, D::bf16, D::bf16),
      preset("fp16-mixed", D::f16, D::f16, D::f16, D::f16),
      preset("fp8-e4m3", D::e4m3, D::e4m3, D::bf16, D::bf16,
             "the kernel rounds P to e4m3 (unit roundoff 2^-4) before P·V, the eager bf16 reference keeps P "
             "in bf16 (2^-8): the kernel's error is expected to be several times the reference's"),
      preset("int8", D::int8, D::f32, D::int8, D::f32),
  };
  return table;
}

// The rounding points a key names, in canonical order. kv_scale is handled apart.
struct Point {
  const char* key;
  DType Recipe::*field;
  const char* what;  // in describe_recipe_change
  std::vector<DType> allowed;
};

const std::vector<Point>& points() {
  using D = DType;
  const std::vector<D> inputs = {D::f32, D::bf16, D::f16, D::e4m3, D::e5m2, D::int8};
  const std::vector<D> wide = {D::f32, D::bf16, D::f16};
  static const std::vector<Point> table = {
      {"q", &Recipe::q, "Q stored as", inputs},
      {"k", &Recipe::k, "K stored as", inputs},
      {"v", &Recipe::v, "V stored as", inputs},
      {"sinks", &Recipe::sinks, "sinks stored as", inputs},
      {"scores", &Recipe::scores, "scores rounded to", wide},
      {"probs", &Recipe::probs, "P rounded to", {D::f32, D::bf16, D::f16, D::e4m3, D::e5m2}},
      {"acc_pv", &Recipe::acc_pv, "P·V accumulated in", wide},
      {"acc_rowsum", &Recipe::acc_rowsum, "the row sum accumulated in", wide},
      {"output", &Recipe::output, "O rounded to", inputs},
  };
  return table;
}

std::optional<DType> recipe_dtype(std::string_view s) {
  if (s == "fp32" || s == "f32") return DType::f32;
  if (s == "fp16" || s == "f16") return DType::f16;
  if (s == "bf16") return DType::bf16;
  if (s == "e4m3" || s == "fp8-e4m3") return DType::e4m3;
  if (s == "e5m2" || s == "fp8-e5m2") return DType::e5m2;
  if (s == "int8") return DType::int8;
  return std::nullopt;
}

std::string allowed_names(const std::vector<DType>& ts) {
  std::vector<std::string_view> names;
  for (DType t : ts) names.push_back(recipe_dtype_name(t));
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string mask_text(float m) { return std::isinf(m) ? "-inf" : fmt::format("{}", m); }

}  // namespace

std::optional<Recipe> recipe_by_name(std::string_view name) {
  for (const Recipe& r : builtin_recipes())
    if (r.name == name) return r;
  return std::nullopt;
}

std::vector<std::string> recipe_names() {
  std::vector<std::string> names;
  for (const Recipe& r : builtin_recipes()) names.push_back(r.name);
  return names;
}

const std::vector<std::string>& recipe_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const Point& p : points()) k.push_back(p.key);
    k.insert(k.end(), {"kv_scale", "kv", "inputs", "exp2", "mask_value"});
    return k;
  }();
  return keys;
}

std::string input_dtype_label(const Recipe& r) {
  return r.uniform_inputs() ? std::string(dtype_name(r.q)) : "mixed";
}

std::string_view recipe_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::f16: return "fp16";
    default: return dtype_name(t);
  }
}

bool set_recipe_key(Recipe& r, std::string_view key, std::string_view value, std::string* err) {
  auto dtypes = [&](std::initializer_list<DType Recipe::*> fields, const std::vector<DType>& allowed) {
    const std::optional<DType> t = recipe_dtype(value);
    if (!t || std::find(allowed.begin(), allowed.end(), *t) == allowed.end()) {
      *err = fmt::format("'{}' must be one of {}, got '{}'", key, allowed_names(allowed), value);
      return false;
    }
    for (DType Recipe::*f : fields) r.*f = *t;
    return true;
  };
  for (const Point& p : points())
    if (key == p.key) return dtypes({p.field}, p.allowed);
  const std::vector<DType>& inputs = points().front().allowed;
  if (key == "kv") return dtypes({&Recipe::k, &Recipe::v}, inputs);
  if (key == "inputs") return dtypes({&Recipe::q, &Recipe::k, &Recipe::v, &Recipe::sinks}, inputs);
  if (key == "kv_scale") {
    if (value == "per_tensor") r.kv_scale = ScaleScheme::per_tensor;
    else if (value == "per_head") r.kv_scale = ScaleScheme::per_head;
    else return *err = fmt::format("'kv_scale' must be per_tensor or per_head, got '{}'", value), false;
    return true;
  }
  if (key == "exp2") {
    if (value != "true" && value != "false") return *err = fmt::format("'exp2' must be true or false, got '{}'", value), false;
    r.exp2 = value == "true";
    return true;
  }
  if (key == "mask_value") {
    if (value == "-inf") return r.mask_value = -std::numeric_limits<float>::infinity(), true;
    double x = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), x);
    if (ec != std::errc() || end != value.data() + value.size() || !(x < 0) || !std::isfinite(float(x)))
      return *err = fmt::format("'mask_value' must be a negative number or -inf, got '{}'", value), false;
    r.mask_value = static_cast<float>(x);
    return true;
  }
  const std::string near = nearest(key, recipe_keys());
  *err = fmt::format("unknown recipe key '{}'{}: the keys are {}", key,
                     near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), fmt::join(recipe_keys(), ", "));
  return false;
}

std::string check_recipe(const Recipe& r) {
  if ((r.q == DType::int8) != (r.k == DType::int8))
    return "q and k are int8 together or not at all: the kernel multiplies the integer codes of both";
  if (r.kv_scale == ScaleScheme::per_head) {
    const bool fp8 = r.k == DType::e4m3 || r.k == DType::e5m2 || r.v == DType::e4m3 || r.v == DType::e5m2;
    if (r.k == DType::int8) return "kv_scale per_head needs fp8 K: int8 K multiplies its codes with one tensor scale";
    if (!fp8) return "kv_scale per_head needs K or V in e4m3 or e5m2 (only scaled formats have scales)";
  }
  return "";
}

void finish_recipe(Recipe& r) {
  const Recipe base = *recipe_by_name(r.preset);
  r.name = recipe_name(r);
  if (r.name == base.name) return void(r.note = base.note);
  std::vector<std::string> why;
  if (unit_roundoff(r.probs) > unit_roundoff(r.eager))
    why.push_back(fmt::format("rounds P to {} before P·V while the eager {} reference keeps P in {}",
                              recipe_dtype_name(r.probs), recipe_dtype_name(r.eager), recipe_dtype_name(r.eager)));
  for (const Point& p : points())
    if (p.field == &Recipe::scores || p.field == &Recipe::acc_pv || p.field == &Recipe::acc_rowsum)
      if (r.*p.field != DType::f32) why.push_back(fmt::format("{} {}", p.what, recipe_dtype_name(r.*p.field)));
  r.note = why.empty() ? "" : fmt::format("the kernel {}, which the eager reference does not: its error is expected "
                                          "to exceed the reference's",
                                          fmt::join(why, "; "));
}

bool split_recipe_text(std::string_view text, Recipe* preset, RecipeOverrides* overrides, std::string* err) {
  const std::size_t plus = text.find('+');
  const std::string_view head = text.substr(0, plus);
  const std::optional<Recipe> r = recipe_by_name(head);
  if (!r) {
    *err = fmt::format("'{}' is not a recipe: a preset ({}), optionally followed by +key=value overrides", head,
                       fmt::join(recipe_names(), ", "));
    return false;
  }
  *preset = *r;
  overrides->clear();
  for (std::size_t at = plus; at != std::string_view::npos;) {
    const std::size_t next = text.find('+', at + 1);
    const std::string_view part = text.substr(at + 1, next == std::string_view::npos ? next : next - at - 1);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      *err = fmt::format("'{}' in '{}' is not key=value", part, text);
      return false;
    }
    overrides->emplace_back(part.substr(0, eq), part.substr(eq + 1));
    at = next;
  }
  return true;
}

std::optional<Recipe> apply_recipe_overrides(Recipe r, const RecipeOverrides& overrides, std::string* err) {
  for (const auto& [key, value] : overrides)
    if (!set_recipe_key(r, key, value, err)) return std::nullopt;
  if (std::string bad = check_recipe(r); !bad.empty()) {
    *err = bad;
    return std::nullopt;
  }
  finish_recipe(r);
  return r;
}

std::optional<Recipe> parse_recipe_text(std::string_view text, std::string* err) {
  Recipe base;
  RecipeOverrides overrides;
  if (!split_recipe_text(text, &base, &overrides, err)) return std::nullopt;
  return apply_recipe_overrides(base, overrides, err);
}

std::string recipe_name(const Recipe& r) {
  const Recipe base = *recipe_by_name(r.preset);
  std::string name = base.name;
  for (const Point& p : points())
    if (r.*p.field != base.*p.field) name += fmt::format("+{}={}", p.key, recipe_dtype_name(r.*p.field));
  if (r.kv_scale != base.kv_scale) name += "+kv_scale=per_head";
  return name;
}

std::string recipe_spec(const Recipe& r) {
  std::string s = recipe_name(r);
  if (r.exp2) s += "+exp2=true";
  if (!std::isinf(r.mask_value)) s += "+mask_value=" + mask_text(r.mask_value);
  return s;
}

std::string describe_recipe_change(const Recipe& from, const Recipe& to) {
  std::vector<std::string> parts;
  const bool kv_together = from.k != to.k && to.k == to.v && from.v != to.v;
  for (const Point& p : points()) {
    if (from.*p.field == to.*p.field) continue;
    if (kv_together && p.field == &Recipe::v) continue;
    const std::string what = kv_together && p.field == &Recipe::k ? "K and V stored as" : p.what;
    std::string part = fmt::format("{} {}", what, recipe_dtype_name(to.*p.field));
    if (p.field == &Recipe::q && to.q == to.k && from.q != from.k) part += " (K's format)";
    parts.push_back(part);
  }
  if (from.kv_scale != to.kv_scale)
    parts.push_back(to.kv_scale == ScaleScheme::per_head ? "K/V scales per head" : "K/V scales per tensor");
  if (from.exp2 != to.exp2) parts.push_back(to.exp2 ? "exp2 with log2(e) folded into the scale" : "exp, not exp2");
  if (from.mask_value != to.mask_value && !(std::isnan(from.mask_value) && std::isnan(to.mask_value)))
    parts.push_back(fmt::format("masked scores set to {}", mask_text(to.mask_value)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace attn
