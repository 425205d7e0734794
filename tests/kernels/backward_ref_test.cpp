// The backward references (kernels/golden.cpp, kernels/naive.cpp) against what is
// known without them: a float64 backward written here as the full softmax Jacobian (not SPEC §10's
// dS = P ∘ (dP - D) identity), central finite differences of L = sum(O ∘ dO) through a forward also
// written here, log-sum-exp by hand, answers known by construction, and PyTorch autograd's bits
// (tests/data/torch_backward_bf16.py). golden's shapes are in no shipped suite: B 2, 3..5 queries,
// 4..7 keys, 4 heads on 1 or 2 KV heads, D 3..5; naive adds rows across several 32-key blocks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <limits>
#include <string>
#include <vector>

#include "kernels/backward.hpp"
#include "src/suite/recipe.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

using Vec = std::vector<double>;

// The test's own tensors in float64, so that finite differences can move them by 1e-5.
struct Tensors {
  Vec q, k, v, sinks, dout;
};

// dO from an LCG of its own: multiples of 1/64 in [-2, 2], exact in every format under test.
std::vector<float> lcg_dout(const Problem& p, std::uint64_t seed) {
  std::uint64_t x = seed * 2862933555777941757ull + 3037000493ull;
  std::vector<float> out;
  for (std::int64_t n = 0; n < p.shape.q_elements(); ++n) {
    x = x * 2862933555777941757ull + 3037000493ull;
    out.push_back(float(std::int64_t((x >> 35) % 257) - 128) / 64.0f);
  }
  return out;
}

Inputs make_inputs(const Problem& p, std::uint64_t seed) {
  Inputs in = test::lcg_inputs(p, seed);
  in.dout = lcg_dout(p, seed + 1000);
  return in;
}

Tensors as_tensors(const Inputs& in) {
  return {Vec(in.q.begin(), in.q.end()), Vec(in.k.begin(), in.k.end()), Vec(in.v.begin(), in.v.end()),
          Vec(in.sinks.begin(), in.sinks.end()), Vec(in.dout.begin(), in.dout.end())};
}

// SPEC §2's visibility rule, pair by pair (not Problem::visible_keys).
bool sees(const Problem& p, std::int64_t i, std::int64_t j) {
  const std::int64_t pos = p.shape.q_offset + i;
  if (p.causal && j > pos) return false;
  if (p.window > 0 && p.causal && !(j > pos - p.window)) return false;
  if (p.window > 0 && !p.causal && !(std::llabs(pos - j) < p.window)) return false;
  return true;
}

std::int64_t qx(const Shape& s, std::int64_t b, std::int64_t i, std::int64_t h, std::int64_t d) {
  return ((b * s.tokens + i) * s.heads + h) * s.head_dim + d;
}
std::int64_t kx(const Shape& s, std::int64_t b, std::int64_t j, std::int64_t g, std::int64_t d) {
  return ((b * s.kv_tokens + j) * s.kv_heads + g) * s.head_dim + d;
}

// One row's softmax in long double: the visible keys, then the sink as a last column.
struct RowProbs {
  std::vector<std::int64_t> keys;
  std::vector<long double> p;  // keys.size() entries, plus one for the sink with sinks
  long double lse = 0;
};

RowProbs row_probs(const Problem& p, const Tensors& t, std::int64_t b, std::int64_t h, std::int64_t i) {
  const Shape& s = p.shape;
  const std::int64_t g = h / (s.heads / s.kv_heads);
  RowProbs r;
  std::vector<long double> logit;
  for (std::int64_t j = 0; j < s.kv_tokens; ++j) {
    if (!sees(p, i, j)) continue;
    long double dot = 0;
    for (std::int64_t d = 0; d < s.head_dim; ++d) dot += (long double)t.q[qx(s, b, i, h, d)] * t.k[kx(s, b, j, g, d)];
    r.keys.push_back(j);
    logit.push_back(dot * (long double)p.scale);
  }
  if (r.keys.empty()) return r;
  if (p.has_sinks) logit.push_back(t.sinks[h]);
  long double mx = logit[0];
  for (long double l : logit) mx = std::max(mx, l);
  long double z = 0;
  for (long double l : logit) z += std::exp(l - mx);
  for (long double l : logit) r.p.push_back(std::exp(l - mx) / z);
  r.lse = mx + std::log(z);
  return r;
}

// O: [B][Sq][H][D] in long double, then L = sum(O ∘ dO).
double loss(const Problem& p, const Tensors& t) {
  const Shape& s = p.shape;
  const std::int64_t qm = s.heads / s.kv_heads;
  long double l = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t i = 0; i < s.tokens; ++i)
      for (std::int64_t h = 0; h < s.heads; ++h) {
        const RowProbs r = row_probs(p, t, b, h, i);
        for (std::int64_t d = 0; d < s.head_dim; ++d) {
          long double o = 0;
          for (std::size_t n = 0; n < r.keys.size(); ++n) o += r.p[n] * t.v[kx(s, b, r.keys[n], h / qm, d)];
          l += o * t.dout[qx(s, b, i, h, d)];
        }
      }
  return double(l);
}

struct Grads {
  Vec dq, dk, dv, dsinks;
};

// The analytic backward as the chain rule through the full softmax Jacobian: dL/dlogit_a =
// sum_c (δ_ca p_c - p_c p_a) g_c over every column c (keys and the sink), where g_c = dO_i · V_c for
// a key and 0 for the sink (its probability is dropped from the output).
Grads jacobian_backward(const Problem& p, const Tensors& t) {
  const Shape& s = p.shape;
  const std::int64_t qm = s.heads / s.kv_heads, D = s.head_dim;
  std::vector<long double> dq(s.q_elements()), dk(s.kv_elements()), dv(s.kv_elements()), ds(s.heads);
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i = 0; i < s.tokens; ++i) {
        const RowProbs r = row_probs(p, t, b, h, i);
        const std::size_t nk = r.keys.size(), nc = r.p.size();
        if (nk == 0) continue;
        const std::int64_t g = h / qm;
        std::vector<long double> gc(nc, 0.0L), dl(nc, 0.0L);
        for (std::size_t c = 0; c < nk; ++c)
          for (std::int64_t d = 0; d < D; ++d) gc[c] += (long double)t.dout[qx(s, b, i, h, d)] * t.v[kx(s, b, r.keys[c], g, d)];
        for (std::size_t a = 0; a < nc; ++a)
          for (std::size_t c = 0; c < nc; ++c) dl[a] += ((a == c ? r.p[c] : 0.0L) - r.p[c] * r.p[a]) * gc[c];
        for (std::size_t a = 0; a < nk; ++a) {
          const std::int64_t j = r.keys[a];
          for (std::int64_t d = 0; d < D; ++d) {
            dq[qx(s, b, i, h, d)] += (long double)p.scale * dl[a] * t.k[kx(s, b, j, g, d)];
            dk[kx(s, b, j, g, d)] += (long double)p.scale * dl[a] * t.q[qx(s, b, i, h, d)];
            dv[kx(s, b, j, g, d)] += r.p[a] * t.dout[qx(s, b, i, h, d)];
          }
        }
        if (p.has_sinks) ds[h] += dl[nk];
      }
  auto cast = [](const std::vector<long double>& x) { return Vec(x.begin(), x.end()); };
  return {cast(dq), cast(dk), cast(dv), p.has_sinks ? cast(ds) : Vec{}};
}

// Central differences of the loss with respect to every element of one tensor.
Vec finite_differences(const Problem& p, Tensors t, Vec Tensors::*which) {
  constexpr double h = 1e-5;
  Vec grad((t.*which).size());
  for (std::size_t n = 0; n < grad.size(); ++n) {
    const double x = (t.*which)[n];
    (t.*which)[n] = x + h;
    const double up = loss(p, t);
    (t.*which)[n] = x - h;
    const double down = loss(p, t);
    (t.*which)[n] = x;
    grad[n] = (up - down) / (2 * h);
  }
  return grad;
}

double peak(const Vec& x) {
  double m = 0;
  for (double v : x) m = std::max(m, std::abs(v));
  return m;
}

struct Case {
  std::int64_t B, Sq, Sk, H, Hkv, D;
  bool causal;
  std::int64_t W;
  bool sinks;
  std::int64_t q_offset;  // Sk - Sq unless told
};

Problem problem_of(const Case& c) {
  Problem p = test::make_problem(c.B, c.Sq, c.Sk, c.H, c.Hkv, c.D, c.causal, c.W, c.sinks);
  p.shape.q_offset = c.q_offset;
  return p;
}

// Sinks, windows, causal and not, GQA 2 and 4, decode offsets, and rows that see no key.
const Case kCases[] = {
    {2, 4, 6, 4, 2, 3, true, 3, true, 2},    // causal window 3, decode offset 2
    {2, 5, 4, 4, 2, 5, false, 2, true, 3},   // non-causal window 2 at positions 3..7: rows 2..4 see no key
    {2, 5, 4, 4, 2, 4, true, 0, false, -1},  // causal, offset -1: row 0 sees no key
    {2, 3, 7, 4, 1, 4, true, 0, true, 4},    // decode, 4 heads on one KV head
    {2, 3, 5, 4, 2, 3, false, 0, true, 2},   // full attention
    {2, 4, 7, 4, 2, 5, true, 2, false, 3},   // window 2 without sinks
};

std::string describe(const Case& c) {
  return "B " + std::to_string(c.B) + " Sq " + std::to_string(c.Sq) + " Sk " + std::to_string(c.Sk) + " H " +
         std::to_string(c.H) + " Hkv " + std::to_string(c.Hkv) + " D " + std::to_string(c.D) +
         (c.causal ? " causal" : " non-causal") + " W " + std::to_string(c.W) + (c.sinks ? " sinks" : "") +
         " offset " + std::to_string(c.q_offset);
}

Vec to_double(const std::vector<float>& x) { return Vec(x.begin(), x.end()); }

}  // namespace

TEST_CASE("golden backward agrees with a full-Jacobian float64 backward to 1e-10", "[backward]") {
  std::uint64_t seed = 1;
  for (const Case& c : kCases) {
    const Problem p = problem_of(c);
    const Inputs in = make_inputs(p, seed++);
    INFO(describe(c));
    const Gradients<double> g = golden_backward(p, in);
    const Grads ref = jacobian_backward(p, as_tensors(in));
    CHECK(peak(ref.dq) > 0.1);  // the comparison is not between zeros
    CHECK(test::max_rel_to_peak(g.dq, ref.dq) <= 1e-10);
    CHECK(test::max_rel_to_peak(g.dk, ref.dk) <= 1e-10);
    CHECK(test::max_rel_to_peak(g.dv, ref.dv) <= 1e-10);
    REQUIRE(g.dsinks.size() == ref.dsinks.size());
    CHECK(g.dsinks.size() == (c.sinks ? std::size_t(c.H) : 0u));
    if (c.sinks) CHECK(test::max_rel_to_peak(g.dsinks, ref.dsinks) <= 1e-10);
  }
}

TEST_CASE("golden backward and the Jacobian backward match finite differences of sum(O * dO)", "[backward]") {
  std::uint64_t seed = 1;
  for (const Case& c : kCases) {
    const Problem p = problem_of(c);
    const Inputs in = make_inputs(p, seed++);
    INFO(describe(c));
    const Tensors t = as_tensors(in);
    const Gradients<double> g = golden_backward(p, in);
    const Grads ref = jacobian_backward(p, t);
    const Vec fq = finite_differences(p, t, &Tensors::q), fk = finite_differences(p, t, &Tensors::k),
              fv = finite_differences(p, t, &Tensors::v);
    // Step 1e-5: truncation error ~1e-10 · |third derivative|, cancellation ~1e-16 · |L| / 1e-5.
    CHECK(test::max_rel_to_peak(g.dq, fq) <= 1e-6);
    CHECK(test::max_rel_to_peak(g.dk, fk) <= 1e-6);
    CHECK(test::max_rel_to_peak(g.dv, fv) <= 1e-6);
    CHECK(test::max_rel_to_peak(ref.dq, fq) <= 1e-6);
    CHECK(test::max_rel_to_peak(ref.dk, fk) <= 1e-6);
    CHECK(test::max_rel_to_peak(ref.dv, fv) <= 1e-6);
    if (c.sinks) {
      const Vec fs = finite_differences(p, t, &Tensors::sinks);
      CHECK(peak(fs) > 1e-3);
      CHECK(test::max_rel_to_peak(g.dsinks, fs) <= 1e-6);
      CHECK(test::max_rel_to_peak(ref.dsinks, fs) <= 1e-6);
    }
  }
}

TEST_CASE("golden_lse is log(sum exp) of the visible scores and the sink, and empty rows give sink or -inf", "[backward]") {
  std::uint64_t seed = 20;
  for (const Case& c : kCases) {
    const Problem p = problem_of(c);
    const Inputs in = make_inputs(p, seed++);
    INFO(describe(c));
    const Tensors t = as_tensors(in);
    const Shape& s = p.shape;
    Vec lse(lse_elements(s));
    golden_lse(p, in, lse);
    std::int64_t empty = 0;
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t h = 0; h < s.heads; ++h)
        for (std::int64_t i = 0; i < s.tokens; ++i) {
          const double got = lse[(b * s.heads + h) * s.tokens + i];
          const RowProbs r = row_probs(p, t, b, h, i);
          if (r.keys.empty()) {
            ++empty;
            CHECK(got == (c.sinks ? double(in.sinks[h]) : -std::numeric_limits<double>::infinity()));
          } else {
            CHECK(std::abs(got - double(r.lse)) <= 1e-13 * std::max(1.0, std::abs(double(r.lse))));
          }
        }
    CHECK(empty == s.batch * s.heads * p.empty_rows());
  }
}

TEST_CASE("golden backward: one visible key per row gives dV = dO summed over the group and dQ = dK = 0", "[backward]") {
  // Window 1, causal, no sinks: row i sees only key i, P = 1, so O = V_i and dS = dP - D = 0.
  const Problem p = test::make_problem(2, 5, 5, 4, 2, 3, true, 1, false);
  const Inputs in = make_inputs(p, 7);
  const Shape& s = p.shape;
  const Gradients<double> g = golden_backward(p, in);
  for (double x : g.dq) CHECK(std::abs(x) <= 1e-14);
  for (double x : g.dk) CHECK(std::abs(x) <= 1e-14);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t j = 0; j < 5; ++j)
      for (std::int64_t kvh = 0; kvh < 2; ++kvh)
        for (std::int64_t d = 0; d < 3; ++d) {
          const double want = double(in.dout[qx(s, b, j, 2 * kvh, d)]) + double(in.dout[qx(s, b, j, 2 * kvh + 1, d)]);
          CHECK(std::abs(g.dv[kx(s, b, j, kvh, d)] - want) <= 1e-14);
        }
}

TEST_CASE("golden backward: equal scores give dV_j = sum of dO_i / n_i and dK = 0", "[backward]") {
  // Q = 0: every visible score is 0, P_ij = 1 / n_i, and dK = scale · sum dS Q = 0 exactly.
  Problem p = test::make_problem(1, 4, 6, 2, 1, 3, true, 0, false);
  Inputs in = make_inputs(p, 8);
  std::fill(in.q.begin(), in.q.end(), 0.0f);
  const Shape& s = p.shape;
  const Gradients<double> g = golden_backward(p, in);
  for (double x : g.dk) CHECK(x == 0.0);
  for (std::int64_t j = 0; j < 6; ++j)
    for (std::int64_t d = 0; d < 3; ++d) {
      double want = 0;
      for (std::int64_t h = 0; h < 2; ++h)
        for (std::int64_t i = 0; i < 4; ++i)
          if (sees(p, i, j)) want += in.dout[qx(s, 0, i, h, d)] / double(s.q_offset + i + 1);
      CHECK(std::abs(g.dv[kx(s, 0, j, 0, d)] - want) <= 1e-14);
    }
}

TEST_CASE("golden backward: a sink that takes all the weight gives no gradient at all", "[backward]") {
  // O = 0, so D = 0 and every term of every gradient is 0 (exp(score - 800) underflows to 0).
  Problem p = test::make_problem(2, 3, 5, 4, 2, 4, true, 0, true);
  Inputs in = make_inputs(p, 9);
  in.sinks.assign(4, 800.0f);
  const Gradients<double> g = golden_backward(p, in);
  for (const Vec* x : {&g.dq, &g.dk, &g.dv, &g.dsinks})
    for (double v : *x) CHECK(v == 0.0);
  Vec lse(lse_elements(p.shape));
  golden_lse(p, in, lse);
  for (double l : lse) CHECK(l == 800.0);
}

TEST_CASE("backward references: rows with no visible key contribute nothing", "[backward]") {
  // Every query before the first key (offset -5, causal): all gradients 0, dsinks 0.
  for (bool sinks : {false, true}) {
    Problem p = test::make_problem(2, 3, 2, 4, 2, 3, true, 0, sinks);
    p.shape.q_offset = -5;
    REQUIRE(p.empty_rows() == 3);
    const Inputs in = make_inputs(p, 10);
    const Gradients<double> g = golden_backward(p, in, 2);
    const Gradients<float> n = naive_backward(p, in, *recipe_by_name("bf16-mixed"), 2);
    for (const Vec* x : {&g.dq, &g.dk, &g.dv, &g.dsinks})
      for (double v : *x) CHECK(v == 0.0);
    for (const std::vector<float>* x : {&n.dq, &n.dk, &n.dv, &n.dsinks})
      for (float v : *x) CHECK(v == 0.0f);
    CHECK(g.dsinks.size() == (sinks ? 4u : 0u));
    CHECK(n.dsinks.size() == (sinks ? 4u : 0u));
    std::vector<float> lse(lse_elements(p.shape));
    naive_lse(p, in, *recipe_by_name("fp32"), lse);
    for (std::int64_t h = 0; h < 4; ++h)
      for (std::int64_t i = 0; i < 3; ++i)
        CHECK(lse[bhs(1, h, i, p.shape)] == (sinks ? in.sinks[h] : -std::numeric_limits<float>::infinity()));
  }
}

namespace {

// Every gradient of a against b, relative to b's peak.
void check_close(const Gradients<float>& a, const Gradients<double>& b, double tol) {
  CHECK(test::max_rel_to_peak(to_double(a.dq), b.dq) <= tol);
  CHECK(test::max_rel_to_peak(to_double(a.dk), b.dk) <= tol);
  CHECK(test::max_rel_to_peak(to_double(a.dv), b.dv) <= tol);
  REQUIRE(a.dsinks.size() == b.dsinks.size());
  if (!b.dsinks.empty()) CHECK(test::max_rel_to_peak(to_double(a.dsinks), b.dsinks) <= tol);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The naive cases: the small ones, and one whose rows span several 32-key blocks and 16-key lanes.
std::vector<Case> naive_cases() {
  std::vector<Case> c(std::begin(kCases), std::end(kCases));
  c.push_back({1, 40, 70, 4, 1, 16, true, 0, true, 30});
  c.push_back({2, 33, 33, 4, 2, 8, false, 17, true, 0});
  return c;
}

}  // namespace

TEST_CASE("naive backward in fp32 is golden's within fp32 rounding", "[backward]") {
  std::uint64_t seed = 40;
  const Recipe fp32 = *recipe_by_name("fp32");
  for (const Case& c : naive_cases()) {
    const Problem p = problem_of(c);
    const Inputs in = make_inputs(p, seed++);
    INFO(describe(c));
    check_close(naive_backward(p, in, fp32), golden_backward(p, in), 1e-5);
    std::vector<float> lse(lse_elements(p.shape));
    Vec glse(lse.size());
    naive_lse(p, in, fp32, lse);
    golden_lse(p, in, glse);
    for (std::size_t n = 0; n < lse.size(); ++n)
      if (std::isinf(glse[n])) CHECK(lse[n] == glse[n]);
      else CHECK(std::abs(lse[n] - glse[n]) <= 1e-6 * std::max(1.0, std::abs(glse[n])));
  }
}

TEST_CASE("naive backward in bf16 rounds: within bf16 error of golden, not fp32's result", "[backward]") {
  std::uint64_t seed = 60;
  const Recipe fp32 = *recipe_by_name("fp32"), bf16 = *recipe_by_name("bf16-mixed");
  REQUIRE(bf16.eager == DType::bf16);
  for (const Case& c : naive_cases()) {
    const Problem p = problem_of(c);
    const Inputs in = make_inputs(p, seed++);  // multiples of 1/64 in [-2, 2]: bf16 holds them exactly
    INFO(describe(c));
    const Gradients<float> n = naive_backward(p, in, bf16);
    // A handful of bf16 roundings (2^-9 relative each) on the chain dW, W, dS, dX, the products.
    check_close(n, golden_backward(p, in), 3e-2);
    CHECK(!same_bits(n.dq, naive_backward(p, in, fp32).dq));
    for (float x : n.dq) CHECK(x == round_to(DType::bf16, x));
    for (float x : n.dk) CHECK(x == round_to(DType::bf16, x));
    for (float x : n.dv) CHECK(x == round_to(DType::bf16, x));
    for (float x : n.dsinks) CHECK(x == round_to(DType::bf16, x));
  }
}

TEST_CASE("naive backward: a finite mask of -1e6 gives the same bits as -inf", "[backward]") {
  // exp(-1e6 - m) is 0 in fp32, so the masked columns add 0 to every sum and have dS = 0.
  for (const char* name : {"fp32", "bf16-mixed"}) {
    Recipe r = *recipe_by_name(name), finite = r;
    finite.mask_value = -1e6f;
    const Problem p = problem_of({2, 5, 7, 4, 2, 4, true, 3, true, 2});
    const Inputs in = make_inputs(p, 77);
    INFO(name);
    const Gradients<float> a = naive_backward(p, in, r), b = naive_backward(p, in, finite);
    CHECK(same_bits(a.dq, b.dq));
    CHECK(same_bits(a.dk, b.dk));
    CHECK(same_bits(a.dv, b.dv));
    CHECK(same_bits(a.dsinks, b.dsinks));
  }
}

TEST_CASE("backward references give the same bits on 1 and 2 threads", "[backward]") {
  const Problem p = problem_of({2, 33, 40, 4, 2, 8, true, 20, true, 7});
  const Inputs in = make_inputs(p, 90);
  for (const char* name : {"fp32", "bf16-mixed"}) {
    const Recipe r = *recipe_by_name(name);
    INFO(name);
    const Gradients<float> a = naive_backward(p, in, r, 1), b = naive_backward(p, in, r, 2);
    CHECK(same_bits(a.dq, b.dq));
    CHECK(same_bits(a.dk, b.dk));
    CHECK(same_bits(a.dv, b.dv));
    CHECK(same_bits(a.dsinks, b.dsinks));
    std::vector<float> l1(lse_elements(p.shape)), l2(l1.size());
    naive_lse(p, in, r, l1, 1);
    naive_lse(p, in, r, l2, 2);
    CHECK(same_bits(l1, l2));
  }
  const Gradients<double> a = golden_backward(p, in, 1), b = golden_backward(p, in, 2);
  CHECK(a.dq == b.dq);
  CHECK(a.dk == b.dk);
  CHECK(a.dv == b.dv);
  CHECK(a.dsinks == b.dsinks);
  Vec l1(lse_elements(p.shape)), l2(l1.size());
  golden_lse(p, in, l1, 1);
  golden_lse(p, in, l2, 2);
  CHECK(l1 == l2);
}

namespace {
#include "tests/data/torch_backward_bf16.inc"
}  // namespace

TEST_CASE("naive backward in bf16 is PyTorch eager autograd's, bit for bit", "[backward]") {
  // tests/data/torch_backward_bf16.py ran gpt-oss's sdpa and .backward() in bfloat16 on these
  // inputs (its header says why the shape gives the same bits in PyTorch 1.13 and 2.x). ATen sums
  // in other orders than naive_backward, in fp32, which moves a bf16 result only on a near tie: the
  // roundings modelled (per op, the softmax backward's row sum in bf16, per head before the GQA
  // sum) are what make the bits agree.
  const Problem p = test::make_problem(1, 16, 16, 2, 1, 16, true, 5, true);
  const Inputs in = make_inputs(p, 5);
  const Gradients<float> n = naive_backward(p, in, *recipe_by_name("bf16-mixed"));
  auto same = [](const std::vector<float>& got, const float* want, std::size_t count) {
    REQUIRE(got.size() == count);
    std::size_t differ = 0;
    for (std::size_t e = 0; e < count; ++e) differ += got[e] != want[e];
    return differ;
  };
  CHECK(same(n.dq, kTorch_dq, std::size(kTorch_dq)) == 0);
  CHECK(same(n.dk, kTorch_dk, std::size(kTorch_dk)) == 0);
  CHECK(same(n.dv, kTorch_dv, std::size(kTorch_dv)) == 0);
  CHECK(same(n.dsinks, kTorch_dsinks, std::size(kTorch_dsinks)) == 0);
}

TEST_CASE("backward references refuse inputs without dO", "[backward]") {
  const Problem p = test::make_problem(1, 2, 2, 1, 1, 2, true, 0, false);
  const Inputs in = test::lcg_inputs(p, 1);  // no dout
  CHECK_THROWS_AS(golden_backward(p, in), std::logic_error);
  CHECK_THROWS_AS(naive_backward(p, in, *recipe_by_name("fp32")), std::logic_error);
}
