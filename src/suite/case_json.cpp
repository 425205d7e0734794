// A case back as a config object (CaseSpec::to_json): what `attn-diff dump` writes to case.json,
// what shrink writes and tells its proposals apart by, and what bench puts in its report.
#include <cmath>

#include "src/suite/config.hpp"

namespace attn {

using nlohmann::json;

json CaseSpec::to_json() const {
  const Shape& s = problem.shape;
  json j = {{"name", name},
            {"batch", s.batch},
            {"tokens", s.tokens},
            {"kv_tokens", s.kv_tokens},
            {"q_offset", s.q_offset},
            {"heads", s.heads},
            {"kv_heads", s.kv_heads},
            {"head_dim", s.head_dim},
            {"causal", problem.causal},
            {"window", problem.window},
            {"scale", problem.scale},
            {"precision", recipe.name},
            {"exp2", recipe.exp2},
            {"tiles", {{"q", tiles.q}, {"kv", tiles.kv}}},
            {"seed", seed},
            {"tags", tags}};
  if (std::isinf(recipe.mask_value)) j["mask_value"] = "-inf";
  else j["mask_value"] = recipe.mask_value;
  auto dist = [](const Distribution& d) {
    return json{{"dist", d.dist}, {"mean", d.mean}, {"std", d.std}, {"low", d.low}, {"high", d.high},
                {"value", d.value}, {"fraction", d.fraction}, {"magnitude", d.magnitude}};
  };
  switch (sinks.kind) {
    case SinksSpec::Kind::none: j["sinks"] = nullptr; break;
    case SinksSpec::Kind::constant: j["sinks"] = sinks.values.at(0); break;
    case SinksSpec::Kind::list: j["sinks"] = sinks.values; break;
    case SinksSpec::Kind::random: j["sinks"] = dist(sinks.dist); break;
  }
  j["inputs"] = dist(inputs);
  if (backward) {  // only then: a forward case's object stays what it was
    j["backward"] = true;
    j["grad_output"] = dist(grad_output);
  }
  j["tolerance"] = {{"atol", tolerance.atol}, {"rtol", tolerance.rtol}, {"bands", tolerance.bands}};
  // Gates are written in full, and every default the case dropped is switched off explicitly, so
  // that loading this object gives the same gate list back.
  json g = json::object();
  for (const GateSpec& spec : default_gates(recipe)) g[spec.name] = nullptr;
  for (const GateSpec& spec : gates) {
    if (find_gate_kind(spec.name)->relative) {
      g[spec.name] = {{"k", spec.k}};
      if (spec.eps >= 0) g[spec.name]["eps"] = spec.eps;
    } else {
      g[spec.name] = spec.bound;
    }
  }
  j["gates"] = g;
  return j;
}

}  // namespace attn
