// Checking one case of a suite file (`defaults` merged under it) into a CaseSpec: internal to the
// suite loader, which calls it for each case and once for `defaults` alone (config.cpp).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/suite/config.hpp"

namespace attn {

// Checks one case (`raw` over `defaults`). With defaults_only, `raw` is the `defaults` object
// itself, checked alone: every value it holds must be valid even when every case overrides it,
// but keys that need the rest of a case (required sizes, heads vs kv_heads, the memory estimate)
// are left to the cases.
bool parse_case(const nlohmann::json& defaults, const nlohmann::json& raw, std::size_t position,
                const std::string& file, const LoadOptions& opt, CaseSpec* out, Diagnostics* diags,
                bool defaults_only = false);

}  // namespace attn
