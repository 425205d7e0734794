#include "src/suite/inputs.hpp"

#include <algorithm>
#include <cmath>

#include "src/base/parallel.hpp"

namespace attn {

namespace {

double draw(const Distribution& d, std::uint64_t key, std::uint64_t outlier_key, std::uint64_t n) {
  if (d.dist == "constant") return d.value;
  if (d.dist == "uniform") return d.low + (d.high - d.low) * stream_uniform(key, n);
  if (d.dist == "integers") return std::min(d.high, d.low + std::floor((d.high - d.low + 1) * stream_uniform(key, n)));
  if (d.dist == "outliers") {
    const double u = stream_uniform(outlier_key, 2 * n);
    if (u < d.fraction) return stream_uniform(outlier_key, 2 * n + 1) < 0.5 ? -d.magnitude : d.magnitude;
  }
  return d.mean + d.std * stream_normal(key, n);
}

}  // namespace

void fill_distribution(const Distribution& dist, std::uint64_t seed, Stream s, Stream outliers, std::span<float> out) {
  const std::uint64_t key = stream_key(seed, s), okey = stream_key(seed, outliers);
  for (std::size_t n = 0; n < out.size(); ++n) out[n] = static_cast<float>(draw(dist, key, okey, n));
}

Inputs make_inputs(const CaseSpec& c, int threads) {
  const Shape& s = c.problem.shape;
  const DType t = c.recipe.input;
  Inputs in;
  in.q.resize(s.q_elements());
  in.k.resize(s.kv_elements());
  in.v.resize(s.kv_elements());
  struct Job {
    std::vector<float>* out;
    float* scale;
    Stream s, outliers;
  };
  const Job jobs[] = {{&in.q, &in.q_scale, Stream::q, Stream::q_outliers},
                      {&in.k, &in.k_scale, Stream::k, Stream::k_outliers},
                      {&in.v, &in.v_scale, Stream::v, Stream::v_outliers}};
  // Each tensor is drawn, then rounded (or quantised with its own per-tensor scale) to the input dtype.
  parallel_for(3, threads, [&](std::int64_t j) {
    fill_distribution(c.inputs, c.seed, jobs[j].s, jobs[j].outliers, *jobs[j].out);
    quantize_all(t, *jobs[j].out, jobs[j].scale);
  });
  switch (c.sinks.kind) {
    case SinksSpec::Kind::none: return in;
    case SinksSpec::Kind::constant: in.sinks.assign(s.heads, float(c.sinks.values[0])); break;
    case SinksSpec::Kind::list: in.sinks.assign(c.sinks.values.begin(), c.sinks.values.end()); break;
    case SinksSpec::Kind::random:
      in.sinks.resize(s.heads);
      fill_distribution(c.sinks.dist, c.seed, Stream::sinks, Stream::sinks_outliers, in.sinks);
      break;
  }
  quantize_all(t, in.sinks, &in.sinks_scale);
  return in;
}

}  // namespace attn
