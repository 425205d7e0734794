// The tiled backward and the tiled LSE against a float64 backward written here from SPEC §10's
// formulas (plain loops, its own visibility rule), across shapes around the tile edges.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/backward.hpp"
#include "kernels/tiled.hpp"
#include "tests/test_util.hpp"

using namespace attn;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// dO from the same kind of LCG as test::lcg_inputs (multiples of 1/64 in [-2, 2]: exact in bf16).
void fill_dout(const Problem& p, Inputs& in, std::uint64_t seed) {
  std::uint64_t x = seed * 2862933555777941757ull + 3037000493ull;
  in.dout.clear();
  for (std::int64_t n = 0; n < p.shape.q_elements(); ++n) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    in.dout.push_back(float(std::int64_t((x >> 33) % 257) - 128) / 64.0f);
  }
}

/// bf16 round-to-nearest-even of a finite float, written here from the format's definition.
double to_bf16(double v) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(static_cast<float>(v));
  const std::uint32_t r = u + 0x7fffu + ((u >> 16) & 1u);
  return std::bit_cast<float>(r & 0xffff0000u);
}

struct Ref {
  std::vector<double> out, lse, dq, dk, dv, dsinks;
};

/// SPEC §10 in float64: per row the visible logits, m, Z, lse = m + log Z, P = exp(s - lse),
/// D = dO·O, dS = P (dP - D). With round_pds, P and dS are rounded to bf16 before their products
/// (what a probs=bf16 recipe does), everything else stays float64.
Ref reference(const Problem& p, const Inputs& in, bool round_pds = false) {
  const Shape& s = p.shape;
  const std::int64_t D = s.head_dim;
  Ref r;
  r.out.assign(s.q_elements(), 0.0), r.dq.assign(s.q_elements(), 0.0);
  r.dk.assign(s.kv_elements(), 0.0), r.dv.assign(s.kv_elements(), 0.0);
  r.lse.assign(s.batch * s.heads * s.tokens, 0.0);
  if (p.has_sinks) r.dsinks.assign(s.heads, 0.0);
  auto Q = [&](std::int64_t b, std::int64_t i, std::int64_t h, std::int64_t d) {
    return double(in.q[((b * s.tokens + i) * s.heads + h) * D + d]);
  };
  auto kv_at = [&](std::int64_t b, std::int64_t j, std::int64_t g, std::int64_t d) {
    return ((b * s.kv_tokens + j) * s.kv_heads + g) * D + d;
  };
  auto q_at = [&](std::int64_t b, std::int64_t i, std::int64_t h, std::int64_t d) {
    return ((b * s.tokens + i) * s.heads + h) * D + d;
  };
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const std::int64_t g = h / (s.heads / s.kv_heads);
      const double sink = p.has_sinks ? double(in.sinks[h]) : kNegInf;
      for (std::int64_t i = 0; i < s.tokens; ++i) {
        const std::int64_t pos = s.q_offset + i;
        std::vector<std::int64_t> keys;
        std::vector<double> logit;
        for (std::int64_t j = 0; j < s.kv_tokens; ++j) {
          bool vis = true;
          if (p.causal && j > pos) vis = false;
          if (p.window > 0 && p.causal && j <= pos - p.window) vis = false;
          if (p.window > 0 && !p.causal && std::llabs(pos - j) >= p.window) vis = false;
          if (!vis) continue;
          double dot = 0;
          for (std::int64_t d = 0; d < D; ++d) dot += Q(b, i, h, d) * double(in.k[kv_at(b, j, g, d)]);
          keys.push_back(j);
          logit.push_back(dot * p.scale);
        }
        double& lse = r.lse[(b * s.heads + h) * s.tokens + i];
        if (keys.empty()) {  // no visible key: lse = sink or -inf, no output, no gradient
          lse = sink;
          continue;
        }
        double m = sink;
        for (double l : logit) m = std::max(m, l);
        double z = p.has_sinks ? std::exp(sink - m) : 0.0;
        for (double l : logit) z += std::exp(l - m);
        lse = m + std::log(z);
        std::vector<double> P(keys.size());
        for (std::size_t n = 0; n < keys.size(); ++n) P[n] = std::exp(logit[n] - lse);
        double delta = 0;
        for (std::int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (std::size_t n = 0; n < keys.size(); ++n) o += P[n] * double(in.v[kv_at(b, keys[n], g, d)]);
          r.out[q_at(b, i, h, d)] = o;
          delta += double(in.dout[q_at(b, i, h, d)]) * o;
        }
        for (std::size_t n = 0; n < keys.size(); ++n) {
          const std::int64_t j = keys[n];
          double dp = 0;
          for (std::int64_t d = 0; d < D; ++d) dp += double(in.dout[q_at(b, i, h, d)]) * double(in.v[kv_at(b, j, g, d)]);
          double ds = P[n] * (dp - delta);
          const double pr = round_pds ? to_bf16(P[n]) : P[n];
          if (round_pds) ds = to_bf16(ds);
          for (std::int64_t d = 0; d < D; ++d) {
            r.dq[q_at(b, i, h, d)] += p.scale * ds * double(in.k[kv_at(b, j, g, d)]);
            r.dk[kv_at(b, j, g, d)] += p.scale * ds * Q(b, i, h, d);
            r.dv[kv_at(b, j, g, d)] += pr * double(in.dout[q_at(b, i, h, d)]);
          }
        }
        if (p.has_sinks) r.dsinks[h] -= std::exp(sink - lse) * delta;
      }
    }
  return r;
}

Recipe recipe(const std::string& text) {
  std::string err;
  auto r = parse_recipe_text(text, &err);
  REQUIRE(r);
  return *r;
}

struct Run {
  std::vector<float> out, lse;
  Gradients<float> g;
};

/// The tiled forward (output and LSE in one pass), then the tiled backward.
Run run(const Problem& p, const Inputs& in, const Recipe& r, TileSizes t, int threads = 1) {
  const TiledOptions opt{.recipe = r, .tiles = t, .threads = threads};
  Run x;
  x.out.resize(p.shape.q_elements());
  x.lse.resize(lse_elements(p.shape));
  tiled_attention(p, in, opt, x.out, x.lse);
  x.g = tiled_backward(p, in, x.out, x.lse, opt);
  return x;
}

std::vector<double> d(const std::vector<float>& x) { return {x.begin(), x.end()}; }

double rel(const std::vector<float>& a, const std::vector<double>& b) { return test::max_rel_to_peak(d(a), b); }

// Checks every gradient of x against the reference to tol relative to each tensor's peak.
void check_grads(const Run& x, const Ref& ref, double tol) {
  CHECK(rel(x.g.dq, ref.dq) <= tol);
  CHECK(rel(x.g.dk, ref.dk) <= tol);
  CHECK(rel(x.g.dv, ref.dv) <= tol);
  CHECK(x.g.dsinks.size() == ref.dsinks.size());
  if (!ref.dsinks.empty()) CHECK(rel(x.g.dsinks, ref.dsinks) <= tol);
}

// |lse - ref| <= tol·max(1, |ref|); equal where the reference is -inf.
void check_lse(const std::vector<float>& lse, const std::vector<double>& ref, double tol) {
  REQUIRE(lse.size() == ref.size());
  double worst = 0;
  for (std::size_t n = 0; n < ref.size(); ++n) {
    if (std::isinf(ref[n])) {
      CHECK(double(lse[n]) == ref[n]);
      continue;
    }
    worst = std::max(worst, std::abs(double(lse[n]) - ref[n]) / std::max(1.0, std::abs(ref[n])));
  }
  CHECK(worst <= tol);
}

bool same_bits(const Gradients<float>& a, const Gradients<float>& b) {
  auto eq = [](const std::vector<float>& x, const std::vector<float>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t n = 0; n < x.size(); ++n)
      if (std::bit_cast<std::uint32_t>(x[n]) != std::bit_cast<std::uint32_t>(y[n])) return false;
    return true;
  };
  return eq(a.dq, b.dq) && eq(a.dk, b.dk) && eq(a.dv, b.dv) && eq(a.dsinks, b.dsinks);
}

}  // namespace

TEST_CASE("tiled backward fp32 agrees with a float64 backward across tile edges", "[backward]") {
  const Recipe fp32 = recipe("fp32");
  struct Grid {
    TileSizes tiles;
    std::vector<std::int64_t> sk, sq;
  };
  for (const Grid& grid : {Grid{{4, 8}, {1, 7, 8, 9, 19}, {1, 3, 4, 5, 9}},
                           Grid{{16, 16}, {1, 15, 16, 17, 37}, {1, 15, 16, 17, 37}}})
    for (std::int64_t Sk : grid.sk)
      for (std::int64_t Sq : grid.sq)
        for (bool causal : {true, false})
          for (std::int64_t W : {0, 1, 5})
            for (bool sinks : {false, true}) {
              if (Sq > Sk && !causal) continue;  // negative offsets causal only, as in the forward's test
              const Problem p = test::make_problem(2, Sq, Sk, 4, 2, 6, causal, W, sinks);
              Inputs in = test::lcg_inputs(p, std::uint64_t(Sk * 100 + Sq));
              fill_dout(p, in, std::uint64_t(Sk * 31 + Sq));
              const Ref ref = reference(p, in);
              INFO("tiles " << grid.tiles.q << "x" << grid.tiles.kv << " Sq " << Sq << " Sk " << Sk << " causal "
                            << causal << " W " << W << " sinks " << sinks);
              const Run x = run(p, in, fp32, grid.tiles);
              check_lse(x.lse, ref.lse, 1e-6);
              check_grads(x, ref, 1e-5);
            }
}

TEST_CASE("tiled backward: head dims past one register block, several key chunks per KV tile, exp2", "[backward]") {
  // D 40 (two 32-wide blocks, padded), KV tiles of 128 and 2048 keys (chunks of 64 inside), q_mult 3.
  for (bool exp2 : {false, true})
    for (TileSizes t : {TileSizes{8, 128}, TileSizes{128, 2048}, TileSizes{5, 33}})
      for (std::int64_t W : {0, 50}) {
        const Problem p = test::make_problem(1, 70, 150, 6, 2, 40, true, W, true);
        Inputs in = test::lcg_inputs(p, 11);
        fill_dout(p, in, 12);
        Recipe r = recipe("fp32");
        r.exp2 = exp2;
        const Ref ref = reference(p, in);
        INFO("exp2 " << exp2 << " tiles " << t.q << "x" << t.kv << " W " << W);
        const Run x = run(p, in, r, t);
        check_lse(x.lse, ref.lse, 1e-6);
        check_grads(x, ref, 1e-5);
      }
}

TEST_CASE("tiled backward: decode offsets and rows with no visible key", "[backward]") {
  // One query row after 40 keys (decode); a chunk of queries at offset 0 of a longer cache (non
  // causal window); queries before the first key (q_offset -3: rows 0..2 see nothing).
  Problem decode = test::make_problem(2, 1, 40, 4, 1, 8, true, 0, true);
  Problem chunk = test::make_problem(1, 9, 30, 2, 2, 8, false, 4, true);
  chunk.shape.q_offset = 0;
  Problem empty = test::make_problem(1, 6, 3, 2, 1, 4, true, 0, true);
  for (bool sinks : {true, false})
    for (Problem p : {decode, chunk, empty}) {
      p.has_sinks = sinks;
      Inputs in = test::lcg_inputs(p, 5);
      fill_dout(p, in, 6);
      const Ref ref = reference(p, in);
      const Run x = run(p, in, recipe("fp32"), {4, 8});
      INFO("Sq " << p.shape.tokens << " Sk " << p.shape.kv_tokens << " sinks " << sinks);
      check_lse(x.lse, ref.lse, 1e-6);
      check_grads(x, ref, 1e-5);
      // a row that sees no key has lse exactly the sink (or -inf) and gets dQ exactly 0
      const Shape& s = p.shape;
      for (std::int64_t i = 0; i < s.tokens; ++i) {
        if (!p.visible_keys(i).empty()) continue;
        for (std::int64_t h = 0; h < s.heads; ++h) {
          CHECK(x.lse[(0 * s.heads + h) * s.tokens + i] == (sinks ? in.sinks[h] : -INFINITY));
          for (std::int64_t dd = 0; dd < s.head_dim; ++dd) CHECK(x.g.dq[bshd(0, i, h, dd, s.tokens, s.heads, s.head_dim)] == 0.0f);
        }
      }
    }
}

TEST_CASE("tiled_lse is the forward's LSE and the forward's output keeps its bits", "[backward]") {
  const Problem p = test::make_problem(2, 21, 21, 4, 2, 16, true, 6, true);
  const Inputs in = test::lcg_inputs(p, 3);
  const Ref ref = reference(p, [&] { Inputs x = in; fill_dout(p, x, 1); return x; }());
  for (const char* name : {"fp32", "bf16-mixed"})
    for (bool exp2 : {false, true}) {
      Recipe r = recipe(name);
      r.exp2 = exp2;
      const TiledOptions opt{.recipe = r, .tiles = {4, 8}, .threads = 2};
      std::vector<float> lse(lse_elements(p.shape)), lse2(lse.size()), out(p.shape.q_elements()), out2(out.size());
      tiled_lse(p, in, opt, lse);
      tiled_attention(p, in, opt, out);
      tiled_attention(p, in, opt, out2, lse2);
      INFO(name << " exp2 " << exp2);
      CHECK(lse == lse2);
      CHECK(out == out2);
      // bf16-mixed keeps its softmax statistics in fp32: its LSE is as close as fp32's
      check_lse(lse, ref.lse, 1e-6);
    }
}

TEST_CASE("tiled backward is bit-identical for threads 1, 2 and 3", "[backward]") {
  const Problem p = test::make_problem(2, 37, 45, 6, 2, 16, true, 0, true);
  Inputs in = test::lcg_inputs(p, 8);
  fill_dout(p, in, 9);
  for (const char* name : {"fp32", "bf16-mixed"})
    for (TileSizes t : {TileSizes{8, 16}, TileSizes{4, 7}}) {
      const Run one = run(p, in, recipe(name), t, 1);
      for (int threads : {2, 3}) {
        INFO(name << " tiles " << t.q << "x" << t.kv << " threads " << threads);
        CHECK(same_bits(run(p, in, recipe(name), t, threads).g, one.g));
      }
    }
}

TEST_CASE("tiled backward bf16-mixed: within bf16 error, and P and dS really rounded", "[backward]") {
  const Problem p = test::make_problem(1, 33, 33, 4, 2, 16, true, 0, true);
  Inputs in = test::lcg_inputs(p, 21);  // multiples of 1/64: exact in bf16, so both recipes see the same inputs
  fill_dout(p, in, 22);
  const Ref ref = reference(p, in);
  const Run f32 = run(p, in, recipe("fp32"), {8, 16});
  const Run bf16 = run(p, in, recipe("bf16-mixed"), {8, 16});
  // bf16 unit roundoff 2^-8: P, dS, O (hence D) and the gradients rounded, fp32 sums
  check_grads(bf16, ref, 2e-2);
  CHECK(!same_bits(bf16.g, f32.g));
  for (float x : bf16.g.dq) CHECK(x == round_bf16(x));
  for (float x : bf16.g.dk) CHECK(x == round_bf16(x));
  for (float x : bf16.g.dv) CHECK(x == round_bf16(x));

  // Only P and dS rounded (fp32 everything else, the fp32 forward's out and lse): the kernel then
  // matches a float64 backward that rounds P and dS to bf16 far better than one that does not, on
  // each gradient (dV shows P's rounding, dQ and dK dS's).
  const Recipe probs = recipe("fp32+probs=bf16");
  const TiledOptions opt{.recipe = probs, .tiles = {8, 16}};
  const Gradients<float> g = tiled_backward(p, in, f32.out, f32.lse, opt);
  const Ref rounded = reference(p, in, true);
  for (auto [got, exact, rnd] : {std::tuple{&g.dq, &ref.dq, &rounded.dq}, std::tuple{&g.dk, &ref.dk, &rounded.dk},
                                 std::tuple{&g.dv, &ref.dv, &rounded.dv}}) {
    const double to_rounded = rel(*got, *rnd), to_exact = rel(*got, *exact);
    INFO("to rounded " << to_rounded << " to exact " << to_exact);
    CHECK(to_exact > 1e-4);
    CHECK(to_rounded * 10 < to_exact);
  }
  CHECK(rel(g.dsinks, ref.dsinks) <= 1e-5);  // dsinks comes from D and the LSE, not from P·V: not rounded
}

TEST_CASE("tiled backward: fp8 runs fp32 internals with bf16 gradients, and a -1e6 mask gives the bits of -inf", "[backward]") {
  const Problem p = test::make_problem(1, 19, 19, 4, 2, 8, true, 7, true);
  Inputs in = test::lcg_inputs(p, 31);
  fill_dout(p, in, 32);
  const Run f32 = run(p, in, recipe("fp32"), {4, 8});
  const Gradients<float> fp8 = tiled_backward(p, in, f32.out, f32.lse, {.recipe = recipe("fp8-e4m3"), .tiles = {4, 8}});
  auto rounded = [](std::vector<float> x) {
    for (float& v : x) v = round_bf16(v);
    return x;
  };
  CHECK(fp8.dq == rounded(f32.g.dq));
  CHECK(fp8.dk == rounded(f32.g.dk));
  CHECK(fp8.dv == rounded(f32.g.dv));
  CHECK(fp8.dsinks == f32.g.dsinks);

  // A finite mask far below every score gives masked keys P = 0 exactly, so nothing changes.
  Recipe finite = recipe("fp32");
  finite.mask_value = -1e6f;
  const Run masked = run(p, in, finite, {4, 8});
  CHECK(masked.lse == f32.lse);
  CHECK(same_bits(masked.g, f32.g));
}

TEST_CASE("each backward fault changes the gradient it is about, and only the backward", "[backward]") {
  // 20 keys in KV tiles of 8 (a partial tail of 4), window 5 straddling the tile edges, q_mult 2, sinks.
  const Problem p = test::make_problem(1, 20, 20, 4, 2, 8, true, 5, true);
  Inputs in = test::lcg_inputs(p, 41);
  fill_dout(p, in, 42);
  const Ref ref = reference(p, in);
  const Recipe fp32 = recipe("fp32");
  const TileSizes tiles{4, 8};
  const Run good = run(p, in, fp32, tiles);
  check_grads(good, ref, 1e-5);
  struct Expect {
    Fault fault;
    const char* name;
    bool dq, dk, dv, dsinks;  // the tensors the fault must change
  };
  for (const Expect& x : {Expect{Fault::bwd_dsinks_zero, "dsinks_zero", false, false, false, true},
                          Expect{Fault::bwd_lse_no_sink, "lse_no_sink", true, true, true, true},
                          Expect{Fault::bwd_dkv_one_head, "dkv_one_head", false, true, true, false},
                          Expect{Fault::bwd_dq_no_scale, "dq_no_scale", true, false, false, false},
                          Expect{Fault::bwd_no_delta, "no_delta", true, true, false, false},
                          Expect{Fault::bwd_window_off_by_one, "window_off_by_one", true, true, true, false},
                          Expect{Fault::bwd_causal_ignored, "causal_ignored", true, true, true, false},
                          Expect{Fault::bwd_kv_tail_dropped, "kv_tail_dropped", false, true, true, false},
                          Expect{Fault::bwd_dq_last_tile, "dq_last_tile", true, false, false, false}}) {
    INFO("bwd_" << x.name);
    const TiledOptions opt{.recipe = fp32, .tiles = tiles, .fault = x.fault};
    std::vector<float> out(p.shape.q_elements()), lse(lse_elements(p.shape));
    tiled_attention(p, in, opt, out, lse);
    CHECK(out == good.out);  // a backward fault leaves the forward alone
    CHECK(lse == good.lse);
    const Gradients<float> g = tiled_backward(p, in, out, lse, opt);
    auto changed = [](const std::vector<float>& got, const std::vector<double>& want) { return rel(got, want) > 1e-3; };
    CHECK(changed(g.dq, ref.dq) == x.dq);
    CHECK(changed(g.dk, ref.dk) == x.dk);
    CHECK(changed(g.dv, ref.dv) == x.dv);
    CHECK(changed(g.dsinks, ref.dsinks) == x.dsinks);
  }
}
