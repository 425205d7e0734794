#include "src/suite/json_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace attn {

using nlohmann::json;

std::string json_type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

void JsonReader::error(const std::string& message, const std::string& note) {
  diags_->push_back({file_, where_, message, note});
  ok_ = false;
}

void JsonReader::check_keys(const json& obj, const std::vector<std::string>& known, const std::string& prefix) {
  for (const auto& [key, _] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const std::string near = nearest(key, known);
    error(fmt::format("unknown key '{}{}'{}", prefix, key, near.empty() ? "" : fmt::format(" (did you mean '{}{}'?)", prefix, near)),
          fmt::format("known keys: {}", fmt::join(known, ", ")));
  }
}

std::optional<std::int64_t> JsonReader::integer(const json& obj, const std::string& key, std::int64_t min,
                                                const std::string& label, std::int64_t max) {
  const std::string name = label.empty() ? key : label;
  if (!obj.contains(key)) return std::nullopt;
  const json& v = obj.at(key);
  if (!(v.is_number_integer() || v.is_number_unsigned()) &&
      !(v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>()))) {
    error(fmt::format("key '{}' must be an integer, got {} ({})", name, json_type_name(v), v.dump()));
    return std::nullopt;
  }
  // Compared exactly: an integer as parsed (int64 or uint64), a whole float only within ±2^62,
  // where the cast cannot overflow (the limits are far below it).
  const double d = v.get<double>();
  const bool castable = d >= -0x1p62 && d <= 0x1p62;  // checked before either cast: -1e300 is UB too
  const bool above = v.is_number_unsigned() ? v.get<std::uint64_t>() > std::uint64_t(max)
                     : v.is_number_integer() ? v.get<std::int64_t>() > max
                                             : d > 0x1p62 || (castable && static_cast<std::int64_t>(d) > max);
  if (above) {
    error(fmt::format("key '{}' is too large ({}; at most {})", name, v.dump(), max));
    return std::nullopt;
  }
  const bool below = v.is_number_unsigned() ? min > 0 && v.get<std::uint64_t>() < std::uint64_t(min)
                     : v.is_number_integer() ? v.get<std::int64_t>() < min
                                             : d < -0x1p62 || (castable && static_cast<std::int64_t>(d) < min);
  if (below) {
    error(fmt::format("key '{}' must be at least {}, got {}", name, min, v.dump()));
    return std::nullopt;
  }
  return v.is_number_unsigned() ? static_cast<std::int64_t>(v.get<std::uint64_t>())
         : v.is_number_integer() ? v.get<std::int64_t>()
                                 : static_cast<std::int64_t>(d);
}

std::optional<double> JsonReader::number(const json& obj, const std::string& key, const std::string& label) {
  const std::string name = label.empty() ? key : label;
  if (!obj.contains(key)) return std::nullopt;
  const json& v = obj.at(key);
  if (!v.is_number()) {
    error(fmt::format("key '{}' must be a number, got {} ({})", name, json_type_name(v), v.dump()));
    return std::nullopt;
  }
  return v.get<double>();
}

std::optional<double> JsonReader::nonneg(const json& obj, const std::string& key, const std::string& label) {
  auto x = number(obj, key, label);
  if (x && !(*x >= 0.0 && std::isfinite(*x))) {
    error(fmt::format("key '{}' must be a finite number >= 0, got {}", label.empty() ? key : label, *x));
    return std::nullopt;
  }
  return x;
}

std::optional<bool> JsonReader::boolean(const json& obj, const std::string& key) {
  if (!obj.contains(key)) return std::nullopt;
  const json& v = obj.at(key);
  if (!v.is_boolean()) {
    error(fmt::format("key '{}' must be true or false, got {} ({})", key, json_type_name(v), v.dump()));
    return std::nullopt;
  }
  return v.get<bool>();
}

const json* JsonReader::object(const json& obj, const std::string& key) {
  if (!obj.contains(key)) return nullptr;
  const json& v = obj.at(key);
  if (!v.is_object()) {
    error(fmt::format("key '{}' must be an object, got {} ({})", key, json_type_name(v), v.dump()));
    return nullptr;
  }
  return &v;
}

}  // namespace attn
