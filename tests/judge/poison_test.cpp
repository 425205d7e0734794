// Poisoned buffers (src/base/poison.hpp): with every output and scratch buffer filled with NaN before
// use, golden, naive, tiled and every mutant give the same bits as without, at 1 and 3 threads, on
// every case of phase 1 to 3. A kernel that reads an element nothing wrote fails here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/mutants.hpp"
#include "src/base/poison.hpp"
#include "src/judge/runner.hpp"
#include "src/suite/config.hpp"

using namespace attn;

namespace {

struct PoisonScope {
  explicit PoisonScope(bool on) { set_poison(on); }
  ~PoisonScope() { set_poison(false); }
};

struct Outputs {
  std::vector<double> golden, naive, tiled;
  std::vector<std::vector<double>> mutants;
};

Outputs compute(const CaseSpec& c, int threads, bool poisoned, bool with_mutants) {
  const PoisonScope scope(poisoned);
  Outputs o;
  PreparedCase p = prepare_case(c, threads);
  o.golden = p.golden;
  o.naive = p.naive;
  std::string err;
  REQUIRE(tiled_candidate(threads).produce(p, &o.tiled, &err));
  if (with_mutants)
    for (const MutantInfo& m : mutants()) {
      const Candidate cand = mutant_candidate(m, threads);
      if (!unsupported_reason(c, cand).empty()) continue;
      o.mutants.emplace_back();
      REQUIRE(cand.produce(p, &o.mutants.back(), &err));
    }
  return o;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("poison: ATTN_DIFF_POISON-style NaN buffers change no bit, at any thread count", "[poison]") {
  for (const char* file : {"configs/phase1.json", "configs/phase2.json", "configs/phase3.json"}) {
    Suite suite;
    Diagnostics diags;
    REQUIRE(load_suite(std::string(ATTN_DIFF_SOURCE_DIR) + "/" + file, {}, &suite, &diags));
    for (const CaseSpec& c : suite.cases) {
      INFO(file << ": case " << c.name);
      const bool mutants = std::string(file) == "configs/phase2.json";  // every fault path, on the tiled-heavy suite
      const Outputs ref = compute(c, 1, false, mutants);
      REQUIRE(std::all_of(ref.golden.begin(), ref.golden.end(), [](double g) { return std::isfinite(g); }));
      for (int threads : {1, 3})
        for (bool poisoned : {false, true}) {
          if (threads == 1 && !poisoned) continue;
          INFO("threads " << threads << (poisoned ? ", poisoned" : ""));
          // Mutants only in the combination that differs in both respects, to keep the test short.
          const bool with_mutants = mutants && threads == 3 && poisoned;
          const Outputs o = compute(c, threads, poisoned, with_mutants);
          CHECK(same_bits(o.golden, ref.golden));
          CHECK(same_bits(o.naive, ref.naive));
          CHECK(same_bits(o.tiled, ref.tiled));
          if (!with_mutants) continue;
          REQUIRE(o.mutants.size() == ref.mutants.size());
          for (std::size_t m = 0; m < o.mutants.size(); ++m) CHECK(same_bits(o.mutants[m], ref.mutants[m]));
        }
    }
  }
}

TEST_CASE("poison: on, a buffer is NaN before use, off, it is left alone", "[poison]") {
  std::vector<float> buf(4, 1.0f);
  {
    const PoisonScope on(true);
    poison(buf);
    for (float x : buf) CHECK(std::isnan(x));
  }
  std::vector<double> other(3, 2.0);
  poison(other);
  for (double x : other) CHECK(x == 2.0);
}
