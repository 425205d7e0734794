// A random distribution for inputs or sinks, and how a suite file gives one (SPEC §4):
// `{"dist": "normal", "mean": 0, "std": 1}` and the like, every key checked.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace attn {

class JsonReader;

/// A random distribution for inputs or sinks. Which fields matter depends on `dist`:
/// normal/outliers use mean and std (outliers: a `fraction` of elements set to ±magnitude),
/// uniform uses [low, high), constant uses value, integers draws whole numbers from [low, high]
/// (small integers make a shrunk case's scores exact enough to follow by hand).
struct Distribution {
  std::string dist = "normal";
  double mean = 0.0, std = 1.0, low = -1.0, high = 1.0, value = 1.0, fraction = 0.001, magnitude = 50.0;
};

/// The distribution object `obj` found at `key` ("inputs", "sinks"); every problem is an error of
/// `rd`, and the fields it could not read keep their defaults.
Distribution read_distribution(JsonReader& rd, const nlohmann::json& obj, const std::string& key);

}  // namespace attn
