// What the gate tests share: a gate's result by name.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "src/judge/gates.hpp"

namespace attn::test {

inline const GateResult& find_gate(const std::vector<GateResult>& r, const std::string& name) {
  for (const GateResult& g : r)
    if (g.name == name) return g;
  FAIL("no gate " << name);
  return r.front();
}

}  // namespace attn::test
