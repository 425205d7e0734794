#include "src/suite/distribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "src/suite/json_reader.hpp"

namespace attn {

using nlohmann::json;

namespace {

const std::vector<std::string> kDistKeys = {"dist", "mean", "std", "low", "high", "value", "fraction", "magnitude"};
const std::vector<std::string> kDistNames = {"normal", "uniform", "constant", "outliers", "integers"};

}  // namespace

Distribution read_distribution(JsonReader& rd, const json& obj, const std::string& key) {
  Distribution d;
  const std::string p = key + ".";
  rd.check_keys(obj, kDistKeys, p);
  if (obj.contains("dist")) {
    const json& v = obj.at("dist");
    if (!v.is_string() || std::find(kDistNames.begin(), kDistNames.end(), v.get<std::string>()) == kDistNames.end()) {
      const std::string near = v.is_string() ? nearest(v.get<std::string>(), kDistNames) : "";
      rd.error(fmt::format("key '{}dist' must be one of {}, got {}{}", p, fmt::join(kDistNames, ", "), v.dump(),
                           near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
    } else {
      d.dist = v.get<std::string>();
    }
  }
  auto finite = [&](const char* k, double& slot) {
    if (auto x = rd.number(obj, k, p + k)) {
      if (std::isfinite(*x)) slot = *x;
      else rd.error(fmt::format("key '{}{}' must be finite", p, k));
    }
  };
  finite("mean", d.mean);
  finite("low", d.low);
  finite("high", d.high);
  finite("value", d.value);
  if (auto x = rd.nonneg(obj, "std", p + "std")) d.std = *x;
  if (auto x = rd.nonneg(obj, "magnitude", p + "magnitude")) d.magnitude = *x;
  if (auto x = rd.nonneg(obj, "fraction", p + "fraction")) {
    if (*x > 1.0) rd.error(fmt::format("key '{}fraction' must be between 0 and 1, got {}", p, *x));
    else d.fraction = *x;
  }
  if (d.dist == "uniform" && !(d.low < d.high))
    rd.error(fmt::format("key '{}low' must be below '{}high' ({} >= {})", p, p, d.low, d.high));
  if (d.dist == "integers") {
    if (std::floor(d.low) != d.low || std::floor(d.high) != d.high || std::abs(d.low) > 1e6 || std::abs(d.high) > 1e6)
      rd.error(fmt::format("keys '{}low' and '{}high' of integers must be whole numbers within ±1e6, got {} and {}", p, p,
                           d.low, d.high));
    else if (d.low > d.high)
      rd.error(fmt::format("key '{}low' must not be above '{}high' ({} > {})", p, p, d.low, d.high));
  }
  return d;
}

}  // namespace attn
