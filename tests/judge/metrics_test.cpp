// Metric definitions of SPEC §5 on small vectors whose answers are worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "src/judge/gates.hpp"
#include "src/judge/metrics.hpp"

using namespace attn;
using Catch::Matchers::WithinAbs;

namespace {
const Index4 kDims = {1, 2, 1, 2};  // 4 elements: [0,0,0,0] [0,0,0,1] [0,1,0,0] [0,1,0,1]
const double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("metrics on a hand-computed example", "[metrics]") {
  // Binary-exact values so that every comparison below is exact.
  const std::vector<double> r = {1.0, -2.0, 4.0, 0.5};
  const std::vector<double> c = {1.125, -2.0, 3.5, 0.5};  // errors 0.125, 0, 0.5, 0
  const Metrics m = compute_metrics(c, r, kDims, {.atol = 0.0625, .rtol = 0.0625, .bands = {0.125, 0.5}});
  CHECK(*m.mae == 0.15625);
  CHECK(*m.max_abs == 0.5);
  CHECK(m.max_abs_index == Index4{0, 1, 0, 0});
  CHECK(*m.max_rel == 0.125);  // 0.125/1 and 0.5/4 tie: the first in row-major order wins
  CHECK(m.max_rel_index == Index4{0, 0, 0, 0});
  CHECK_THAT(*m.rmse, WithinAbs(std::sqrt((0.015625 + 0.25) / 4), 1e-15));
  CHECK_THAT(*m.nmse, WithinAbs(0.265625 / 21.25, 1e-15));
  // 0.125 <= 0.0625 + 0.0625·1 passes (equality passes); 0.5 <= 0.0625 + 0.0625·4 fails
  CHECK(m.pass_rate == 0.75);
  REQUIRE(m.bands.size() == 2);
  CHECK(m.bands[0].second == 0.75);
  CHECK(m.bands[1].second == 1.0);
  CHECK(*m.min_atol == 0.5);
  CHECK(*m.min_rtol == 0.125);
  double cm = 0, rm = 0;
  for (int i = 0; i < 4; ++i) cm += c[i] / 4, rm += r[i] / 4;
  double cov = 0, vc = 0, vr = 0, dot = 0, nc = 0, nr = 0;
  for (int i = 0; i < 4; ++i) {
    cov += (c[i] - cm) * (r[i] - rm);
    vc += (c[i] - cm) * (c[i] - cm);
    vr += (r[i] - rm) * (r[i] - rm);
    dot += c[i] * r[i], nc += c[i] * c[i], nr += r[i] * r[i];
  }
  CHECK_THAT(*m.pearson, WithinAbs(cov / std::sqrt(vc * vr), 1e-14));
  CHECK_THAT(*m.cosine, WithinAbs(dot / std::sqrt(nc * nr), 1e-14));
  CHECK(m.nan_candidate == 0);
}

TEST_CASE("metrics: undefined values are null with a reason, not NaN", "[metrics]") {
  const std::vector<double> zeros(4, 0.0);
  const std::vector<double> ones(4, 1.0);
  Metrics m = compute_metrics(ones, zeros, kDims, {});
  CHECK(!m.pearson);
  CHECK(!m.nmse);
  CHECK(!m.cosine);
  CHECK(!m.max_rel);
  CHECK(m.rel_excluded == 4);
  CHECK(!m.min_rtol);  // c != 0 where r == 0: no rtol covers it
  CHECK(*m.min_atol == 1.0);
  CHECK(m.null_reasons.size() >= 4);

  const std::vector<double> r = {1, 2, 3, 4};
  m = compute_metrics(ones, r, kDims, {});
  CHECK(!m.pearson);
  bool found = false;
  for (const auto& [f, why] : m.null_reasons) found |= f == "pearson" && why == kCandidateConstant;
  CHECK(found);
}

TEST_CASE("metrics: NaN never passes and non-finite elements are counted", "[metrics]") {
  const std::vector<double> r = {1, 2, 3, 4};
  const std::vector<double> c = {1, kNaN, 3, std::numeric_limits<double>::infinity()};
  const Metrics m = compute_metrics(c, r, kDims, {.atol = 1e9, .rtol = 1e9});
  CHECK(m.nan_candidate == 1);
  CHECK(m.inf_candidate == 1);
  CHECK(m.pass_rate == 0.5);
  CHECK(m.nonfinite_excluded == 2);
  CHECK(*m.max_abs == 0.0);
  CHECK(!m.min_atol);
}

TEST_CASE("within_tolerance is torch.allclose's asymmetric rule", "[metrics]") {
  CHECK(within_tolerance(1.0, 2.0, 0.0, 0.5));        // 1 <= 0.5·|2|
  CHECK_FALSE(within_tolerance(2.0, 1.0, 0.0, 0.5));  // 1 > 0.5·|1|: rtol scales |r|, not |c|
  CHECK(within_tolerance(1.25, 1.0, 0.125, 0.125));   // 0.25 <= 0.125 + 0.125: equality passes
  CHECK(within_tolerance(0.0, 0.0, 0.0, 0.0));
  CHECK_FALSE(within_tolerance(kNaN, 1.0, 1e300, 1e300));
  CHECK_FALSE(within_tolerance(1.0, kNaN, 1e300, 1e300));
}

TEST_CASE("StableSum keeps what a plain sum loses", "[metrics]") {
  StableSum s;
  double plain = 0;
  s.add(1e16);
  plain += 1e16;
  for (int i = 0; i < 1000; ++i) s.add(1.0), plain += 1.0;
  s.add(-1e16);
  plain += -1e16;
  CHECK(s.value() == 1000.0);
  CHECK(plain != 1000.0);
}

TEST_CASE("worst_elements lists the largest errors first, NaN on top", "[metrics]") {
  const std::vector<double> r = {0, 0, 0, 0};
  const std::vector<double> c = {0.1, kNaN, -0.3, 0.2};
  const auto w = worst_elements(c, r, kDims, 3);
  REQUIRE(w.size() == 3);
  CHECK(std::isnan(w[0].abs_err));
  CHECK(w[0].index == Index4{0, 0, 0, 1});
  CHECK(w[1].abs_err == 0.3);
  CHECK(w[2].abs_err == 0.2);
}

TEST_CASE("gates: bounds, the FlashAttention rule, and skipped gates", "[gates]") {
  const std::vector<double> r = {1, 2, 3, 4};
  const std::vector<double> c = {1.01, 2, 3, 4};
  const std::vector<double> n = {1.004, 2, 3, 4};
  const Metrics cm = compute_metrics(c, r, kDims, {});
  const Metrics nm = compute_metrics(n, r, kDims, {});
  const GateContext ctx{cm, nm, nullptr, 4.0, DType::bf16};
  const auto res = evaluate_gates({{.name = "max_abs", .bound = 0.02}, {.name = "mae", .bound = 0.001},
                                   {.name = "max_abs_vs_naive", .k = 2.0, .eps = 0.0},
                                   {.name = "max_abs_vs_naive", .k = 3.0},
                                   {.name = "max_abs_vs_expected", .k = 2.0}},
                                  ctx);
  REQUIRE(res.size() == 5);
  CHECK(res[0].pass);                               // 0.01 <= 0.02
  CHECK_FALSE(res[1].pass);                         // mae 0.0025 > 0.001
  CHECK_THAT(res[2].bound, WithinAbs(0.008, 1e-12));  // 2 × 0.004 + 0
  CHECK_FALSE(res[2].pass);                         // 0.01 > 0.008
  CHECK_THAT(res[3].bound, WithinAbs(0.012 + 2 * 4.0 / 256, 1e-12));  // floor: one bf16 ulp at max|golden|
  CHECK(res[3].pass);
  CHECK(res[4].pass);  // no expected kernel: skipped
  CHECK(res[4].note.find("skipped") != std::string::npos);
}
