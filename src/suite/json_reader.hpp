// Reading the values of a suite file's JSON objects strictly (SPEC §4): every wrong type, every
// out-of-range integer and every unknown key (with a did-you-mean) becomes a diagnostic that
// names the file, the place (a case or defaults) and the key. Used by the suite loader only
// (config.cpp, case_parse.cpp, distribution.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/suite/config.hpp"

namespace attn {

/// "a boolean", "an integer", "a number", "a string", "a list", "an object" or "null": the
/// type of a value as error messages name it.
std::string json_type_name(const nlohmann::json& v);

// Reads values out of one JSON object, turning every problem into a diagnostic that names the
// file, the place (case or defaults) and the key.
class JsonReader {
 public:
  JsonReader(std::string file, std::string where, Diagnostics* diags)
      : file_(std::move(file)), where_(std::move(where)), diags_(diags) {}

  void error(const std::string& message, const std::string& note = "");
  bool ok() const { return ok_; }

  /// Every key of `obj` not in `known` is an error, with the nearest known key as a suggestion;
  /// `prefix` ("tiles.", "") is put before the key in the message.
  void check_keys(const nlohmann::json& obj, const std::vector<std::string>& known, const std::string& prefix);

  /// The values below are nullopt (nullptr) when the key is absent, or, after an error, when it
  /// holds a wrong value. `label` names the key in messages when it is not `key` itself.
  std::optional<std::int64_t> integer(const nlohmann::json& obj, const std::string& key, std::int64_t min,
                                      const std::string& label = "", std::int64_t max = kMaxInteger);
  std::optional<double> number(const nlohmann::json& obj, const std::string& key, const std::string& label = "");
  std::optional<double> nonneg(const nlohmann::json& obj, const std::string& key, const std::string& label = "");
  std::optional<bool> boolean(const nlohmann::json& obj, const std::string& key);
  const nlohmann::json* object(const nlohmann::json& obj, const std::string& key);

 private:
  std::string file_, where_;
  Diagnostics* diags_;
  bool ok_ = true;
};

}  // namespace attn
