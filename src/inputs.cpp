#include "src/inputs.hpp"

#include "src/parallel.hpp"

namespace attn {

namespace {

double draw(const Distribution& d, std::uint64_t key, std::uint64_t outlier_key, std::uint64_t n) {
  if (d.dist == "constant") return d.value;
  if (d.dist == "uniform") return d.low + (d.high - d.low) * stream_uniform(key, n);
  if (d.dist == "outliers") {
    const double u = stream_uniform(outlier_key, 2 * n);
    if (u < d.fraction) return stream_uniform(outlier_key, 2 * n + 1) < 0.5 ? -d.magnitude : d.magnitude;
  }
  return d.mean + d.std * stream_normal(key, n);
}

}  // namespace

void fill_distribution(const Distribution& dist, std::uint64_t seed, Stream s, Stream outliers, DType t,
                       std::span<float> out) {
  const std::uint64_t key = stream_key(seed, s), okey = stream_key(seed, outliers);
  for (std::size_t n = 0; n < out.size(); ++n)
    out[n] = round_to(t, static_cast<float>(draw(dist, key, okey, n)));
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
    Stream s, outliers;
  };
  const Job jobs[] = {{&in.q, Stream::q, Stream::q_outliers},
                      {&in.k, Stream::k, Stream::k_outliers},
                      {&in.v, Stream::v, Stream::v_outliers}};
  parallel_for(3, threads, [&](std::int64_t j) {
    fill_distribution(c.inputs, c.seed, jobs[j].s, jobs[j].outliers, t, *jobs[j].out);
  });
  switch (c.sinks.kind) {
    case SinksSpec::Kind::none: break;
    case SinksSpec::Kind::constant: in.sinks.assign(s.heads, round_to(t, float(c.sinks.values[0]))); break;
    case SinksSpec::Kind::list:
      for (double x : c.sinks.values) in.sinks.push_back(round_to(t, float(x)));
      break;
    case SinksSpec::Kind::random:
      in.sinks.resize(s.heads);
      fill_distribution(c.sinks.dist, c.seed, Stream::sinks, Stream::sinks_outliers, t, in.sinks);
      break;
  }
  return in;
}

}  // namespace attn
