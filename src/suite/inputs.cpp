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

void fill_distribution(const Distribution& dist, std::uint64_t seed, Stream s, Stream outliers, std::span<float> out,
                       int threads) {
  const std::uint64_t key = stream_key(seed, s), okey = stream_key(seed, outliers);
  constexpr std::int64_t kBlock = 1 << 16;
  const std::int64_t n = std::int64_t(out.size()), blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, threads, [&](std::int64_t b) {
    for (std::int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i)
      out[std::size_t(i)] = static_cast<float>(draw(dist, key, okey, std::size_t(i)));
  });
}

void quantize_inputs(const Recipe& r, const Shape& s, Inputs& in, int threads) {
  struct Job {
    std::vector<float>* values;
    DType t;
    float* scale;
    std::vector<float>* head_scales;  // per-head K/V scales, or null
  };
  const bool per_head = r.kv_scale == ScaleScheme::per_head;
  auto head_scaled = [&](DType t) { return per_head && (t == DType::e4m3 || t == DType::e5m2); };
  const Job jobs[] = {{&in.q, r.q, &in.q_scale, nullptr},
                      {&in.k, r.k, &in.k_scale, head_scaled(r.k) ? &in.k_head_scales : nullptr},
                      {&in.v, r.v, &in.v_scale, head_scaled(r.v) ? &in.v_head_scales : nullptr},
                      {&in.sinks, r.sinks, &in.sinks_scale, nullptr}};
  // Inputs stored again per tensor (compare --precision): an earlier recipe's per-head scales no longer apply.
  if (!head_scaled(r.k)) in.k_head_scales.clear();
  if (!head_scaled(r.v)) in.v_head_scales.clear();
  // Each tensor is rounded (or quantised with its own scale) to its own input dtype.
  parallel_for(4, threads, [&](std::int64_t j) {
    const Job& job = jobs[j];
    if (!job.head_scales) return quantize_all(job.t, *job.values, job.scale);
    // One scale per KV head: gather the head's elements, quantise them together, scatter back.
    const std::int64_t D = s.head_dim, rows = s.batch * s.kv_tokens;
    job.head_scales->assign(s.kv_heads, 1.0f);
    std::vector<float> head(rows * D);
    for (std::int64_t g = 0; g < s.kv_heads; ++g) {
      for (std::int64_t n = 0; n < rows; ++n)
        std::copy_n(&(*job.values)[(n * s.kv_heads + g) * D], D, &head[n * D]);
      quantize_all(job.t, head, &(*job.head_scales)[g]);
      for (std::int64_t n = 0; n < rows; ++n)
        std::copy_n(&head[n * D], D, &(*job.values)[(n * s.kv_heads + g) * D]);
    }
    *job.scale = 1.0f;
  });
}

Inputs make_inputs(const CaseSpec& c, int threads) {
  const Shape& s = c.problem.shape;
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
    fill_distribution(c.inputs, c.seed, jobs[j].s, jobs[j].outliers, *jobs[j].out);
  });
  switch (c.sinks.kind) {
    case SinksSpec::Kind::none: break;
    case SinksSpec::Kind::constant: in.sinks.assign(s.heads, float(c.sinks.values[0])); break;
    case SinksSpec::Kind::list: in.sinks.assign(c.sinks.values.begin(), c.sinks.values.end()); break;
    case SinksSpec::Kind::random:
      in.sinks.resize(s.heads);
      fill_distribution(c.sinks.dist, c.seed, Stream::sinks, Stream::sinks_outliers, in.sinks);
      break;
  }
  quantize_inputs(c.recipe, s, in, threads);
  if (c.backward) {  // its own stream: the forward inputs are the same with and without it
    in.dout.resize(s.q_elements());
    fill_distribution(c.grad_output, c.seed, Stream::dout, Stream::dout_outliers, in.dout, threads);  // alone: split
    round_all(grad_dtype(c.recipe), in.dout);
  }
  return in;
}

}  // namespace attn
