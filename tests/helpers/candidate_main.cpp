// A stand-in for an external kernel, run by the CLI tests as `--candidate-cmd` or by hand before
// `compare`: it reads a dump directory the way a user's script would (case.json and the .npy
// inputs, never attn-diff's generator) and writes {out}, correctly or with a chosen defect.
//
//   attn_diff_candidate MODE INPUTS OUT [--layout L] [--format F] [--reshaped-from ORDER] [--pid-file FILE]
//
// MODE: correct | mutant:<name> | recipe:<name> (the tiled kernel in another precision) | golden |
//       variant:<name> (a legitimate variant of kernels/variants.hpp, in the case's recipe) |
//       bug:<name> (a port bug attn-diff has no model of: bugs::kBugs below) |
//       ggml:f16 | ggml:f16-q (like ggml's CPU flash attention: ggml_like below) |
//       crash | fail | hang | wrong_shape | no_output | nan | env (checks $ATTN_DIFF_*)
// F: npy (float32, default) | safetensors (F32) | bf16-safetensors | bf16-bits ('<u2' .npy)
// A backward case (SPEC §10) in mode correct or mutant:<name> gets its tensors beside the output in
// one .safetensors file (bshd, F32), whatever --format says.
// --reshaped-from bhsd|bsdh|sbhd: the values in that axis order under the bshd shape (a reshape
// where a transpose was meant). INPUTS or OUT "-" reads $ATTN_DIFF_INPUTS / $ATTN_DIFF_OUT.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/backward.hpp"
#include "kernels/golden.hpp"
#include "kernels/mutants.hpp"
#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "src/io/dumpdir.hpp"
#include "src/io/layout.hpp"
#include "src/io/npy.hpp"
#include "src/io/safetensors.hpp"
#include "src/suite/dtype.hpp"

using namespace attn;

namespace {

int usage(const char* why) {
  std::fprintf(stderr, "attn_diff_candidate: %s\nusage: attn_diff_candidate MODE INPUTS OUT [--layout L] [--format F] "
                       "[--pid-file FILE]\n", why);
  return 64;
}

// NumPy has no bf16: such tensors travel as their 16-bit patterns in a '<u2' array.
bool write_bf16_bits_npy(const std::string& path, const std::vector<std::int64_t>& shape, const std::vector<double>& v) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string header = "{'descr': '<u2', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = std::uint16_t(header.size());
  out.put(char(len & 0xFF)).put(char(len >> 8));
  out << header;
  for (double x : v) {
    const std::uint16_t bits = encode_bf16(x);
    out.put(char(bits & 0xFF)).put(char(bits >> 8));
  }
  return bool(out);
}

// A backward case (SPEC §10): the tiled kernel's output, LSE and FA2 gradients, bshd, one F32
// .safetensors file.
int write_backward(const CaseSpec& c, const Inputs& in, const TiledOptions& t, const std::vector<float>& out,
                   const std::string& path) {
  const Shape& s = c.problem.shape;
  std::vector<float> lse(lse_elements(s));
  tiled_lse(c.problem, in, t, lse);
  const Gradients<float> g = tiled_backward(c.problem, in, out, lse, t);
  const auto wide = [](const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); };
  const std::vector<double> values[] = {wide(out), wide(lse), wide(g.dq), wide(g.dk), wide(g.dv), wide(g.dsinks)};
  const std::vector<std::int64_t> q_shape = {s.batch, s.tokens, s.heads, s.head_dim},
                                  kv_shape = {s.batch, s.kv_tokens, s.kv_heads, s.head_dim};
  std::vector<TensorToWrite> tensors = {{.name = "out", .shape = q_shape, .values = values[0]},
                                        {.name = "lse", .shape = {s.batch, s.heads, s.tokens}, .values = values[1]},
                                        {.name = "dq", .shape = q_shape, .values = values[2]},
                                        {.name = "dk", .shape = kv_shape, .values = values[3]},
                                        {.name = "dv", .shape = kv_shape, .values = values[4]}};
  if (c.problem.has_sinks) tensors.push_back({.name = "dsinks", .shape = {s.heads}, .values = values[5]});
  std::string err;
  if (write_safetensors(path, tensors, &err)) return 0;
  std::fprintf(stderr, "%s\n", err.c_str());
  return 2;
}

}  // namespace

// ---- bug:<name>: port bugs attn-diff has no model of (tests/cli/localisation_test.cpp) --------------
// Each is the plain float64 attention (golden's algorithm, in loops) with one deliberate fault, as
// a user's port might have it; bug:none is the same without a fault (it must pass).
namespace bugs {

struct Bug {
  const char* name;
  const char* fault;
};
const Bug kBugs[] = {
    {"none", "no fault"},
    {"k_group_reversed", "K of the last kv head read in reverse key order within each KV tile"},
    {"v_shift", "V rows shifted by one key (key j reads V row j + 1)"},
    {"window_tile_start", "the sliding window measured from the first query of the query tile"},
    {"batch_k_stride", "a zero batch stride for K: every batch element reads batch 0's K"},
    {"denominator_bf16_head", "the softmax denominator rounded to bf16 in head H - 3"},
    {"v_upper_half", "head-dim columns D/2..D-1 of V read from columns 0..D/2-1"},
    {"stale_last_tile", "the last query tile writes the previous query tile's output (a stale buffer)"},
    {"first_kv_tile_v_zero", "V of the first KV tile read as zeros (the prefetch was not awaited)"},
    {"column_scaled", "the epilogue scales head-dim column 3 by 0.5"},
    {"sink_scaled", "the sink logit multiplied by the softmax scale 1/sqrt(D)"},
};

bool known(const std::string& name) {
  for (const Bug& b : kBugs)
    if (name == b.name) return true;
  return false;
}

// Q: [B][Sq][H][D], K,V: [B][Sk][Hkv][D], sinks: [H] -> o: [B][Sq][H][D].
void attention(const std::string& bug, const CaseSpec& c, const Inputs& in, std::vector<double>& o) {
  const Problem& p = c.problem;
  const Shape& s = p.shape;
  const std::int64_t B = s.batch, Sq = s.tokens, Sk = s.kv_tokens, H = s.heads, Hkv = s.kv_heads, D = s.head_dim;
  const std::int64_t Tq = std::max<std::int64_t>(1, c.tiles.q), Tk = std::max<std::int64_t>(1, c.tiles.kv);
  auto k_at = [&](std::int64_t b, std::int64_t j, std::int64_t g, std::int64_t d) {
    if (bug == "batch_k_stride") b = 0;
    if (bug == "k_group_reversed" && g == Hkv - 1) {
      const std::int64_t t0 = j / Tk * Tk, t1 = std::min(Sk, t0 + Tk);
      j = t0 + (t1 - 1 - j);
    }
    return double(in.k[bshd(b, j, g, d, Sk, Hkv, D)]);
  };
  auto v_at = [&](std::int64_t b, std::int64_t j, std::int64_t g, std::int64_t d) {
    if (bug == "first_kv_tile_v_zero" && j < Tk) return 0.0;
    if (bug == "v_shift") j = std::min(j + 1, Sk - 1);
    if (bug == "v_upper_half" && d >= D / 2) d -= D / 2;
    return double(in.v[bshd(b, j, g, d, Sk, Hkv, D)]);
  };
  std::vector<double> w;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t g = h / s.q_mult();
        double* out = &o[bshd(b, i, h, 0, Sq, H, D)];
        Problem::KeyRange keys = p.visible_keys(i);
        if (bug == "window_tile_start" && p.window > 0 && !keys.empty()) keys.lo = std::min(keys.lo, p.visible_keys(i / Tq * Tq).lo);
        std::fill(out, out + D, 0.0);
        if (keys.empty()) continue;
        double sink = p.has_sinks ? double(in.sinks[h]) : -HUGE_VAL;
        if (bug == "sink_scaled" && p.has_sinks) sink *= p.scale;
        w.assign(keys.hi - keys.lo, 0.0);
        double m = sink;
        for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
          double dot = 0.0;
          for (std::int64_t d = 0; d < D; ++d) dot += double(in.q[bshd(b, i, h, d, Sq, H, D)]) * k_at(b, j, g, d);
          w[j - keys.lo] = p.scale * dot;
          m = std::max(m, w[j - keys.lo]);
        }
        double l = p.has_sinks ? std::exp(sink - m) : 0.0;
        for (double& x : w) l += x = std::exp(x - m);
        if (bug == "denominator_bf16_head" && h == H - 3) l = round_bf16(float(l));
        for (std::int64_t j = keys.lo; j < keys.hi; ++j)
          for (std::int64_t d = 0; d < D; ++d) out[d] += w[j - keys.lo] * v_at(b, j, g, d);
        for (std::int64_t d = 0; d < D; ++d) out[d] /= l;
        if (bug == "column_scaled" && D > 3) out[3] *= 0.5;
      }
  if (bug == "stale_last_tile" && Sq > Tq)
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = (Sq - 1) / Tq * Tq; i < Sq; ++i)
        for (std::int64_t h = 0; h < H; ++h)
          for (std::int64_t d = 0; d < D; ++d) o[bshd(b, i, h, d, Sq, H, D)] = o[bshd(b, i - Tq, h, d, Sq, H, D)];
}

}  // namespace bugs
// ---- end of bug:<name> ---------------------------------------------------------------------------

// ---- ggml:f16 / ggml:f16-q: a kernel that rounds like ggml's CPU flash attention ------------------
// Written from issue #18's description, not from ggml's code: K and V as stored in an fp16 KV cache
// (Q stays fp32; ggml:f16-q rounds Q to fp16 too, as ggml's per-row path converts Q to K's type).
// Per query row, keys in ascending order, an online softmax in fp32 (running max M, sum S), the V
// accumulator held in fp16: every update is computed in fp32 and stored back rounded to fp16, the
// rescale on a new maximum too. Sinks join at the end as one more score with no V; O = acc / S.
// Declared fp32 it fails; declared fp32+kv=fp16+acc_pv=fp16 (f16-q: fp32+inputs=fp16+acc_pv=fp16) it
// must pass (tests/cli/ggml_like_test.cpp).
namespace ggml_like {

void attention(bool round_q, const CaseSpec& c, const Inputs& in, std::vector<double>& o) {
  const Problem& p = c.problem;
  const Shape& s = p.shape;
  const std::int64_t Sq = s.tokens, Sk = s.kv_tokens, H = s.heads, Hkv = s.kv_heads, D = s.head_dim;
  std::vector<float> q(D), acc(D);
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t i = 0; i < Sq; ++i)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t g = h / (H / Hkv);
        for (std::int64_t d = 0; d < D; ++d) {
          const float x = in.q[bshd(b, i, h, d, Sq, H, D)];
          q[d] = round_q ? round_f16(x) : x;
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        float M = -HUGE_VALF, S = 0.0f;
        const Problem::KeyRange keys = p.visible_keys(i);
        for (std::int64_t j = keys.lo; j < keys.hi; ++j) {
          float dot = 0.0f;
          for (std::int64_t d = 0; d < D; ++d) dot += q[d] * round_f16(in.k[bshd(b, j, g, d, Sk, Hkv, D)]);
          const float sc = float(p.scale) * dot;
          float ms = 1.0f, vs = 1.0f;
          if (sc > M) {
            ms = std::exp(M - sc);
            M = sc;
            for (float& a : acc) a = round_f16(a * ms);  // the rescale, stored in fp16
          } else {
            vs = std::exp(sc - M);
          }
          for (std::int64_t d = 0; d < D; ++d) acc[d] = round_f16(acc[d] + round_f16(in.v[bshd(b, j, g, d, Sk, Hkv, D)]) * vs);
          S = S * ms + vs;
        }
        if (p.has_sinks) {  // after the keys, in fp32: one more score without a V row
          const float sink = in.sinks[h];
          float ms = 1.0f, vs = 1.0f;
          if (sink > M) {
            ms = std::exp(M - sink);
            for (float& a : acc) a *= ms;
          } else {
            vs = std::exp(sink - M);
          }
          S = S * ms + vs;
        }
        double* out = &o[bshd(b, i, h, 0, Sq, H, D)];
        for (std::int64_t d = 0; d < D; ++d) out[d] = S > 0.0f ? acc[d] / S : 0.0;
      }
}

}  // namespace ggml_like
// ---- end of ggml:<mode> ----------------------------------------------------------------------------

int main(int argc, char** argv) {
  if (argc < 4) return usage("missing arguments");
  const std::string mode = argv[1];
  std::string inputs = argv[2], out = argv[3], layout_name_arg = "bshd", format = "npy", pid_file, reshaped;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--layout") layout_name_arg = argv[i + 1];
    else if (flag == "--format") format = argv[i + 1];
    else if (flag == "--pid-file") pid_file = argv[i + 1];
    else if (flag == "--reshaped-from") reshaped = argv[i + 1];
    else return usage(("unknown option " + flag).c_str());
  }
  if (inputs == "-") inputs = std::getenv("ATTN_DIFF_INPUTS") ? std::getenv("ATTN_DIFF_INPUTS") : "";
  if (out == "-") out = std::getenv("ATTN_DIFF_OUT") ? std::getenv("ATTN_DIFF_OUT") : "";

  if (mode == "crash") {
    std::fprintf(stderr, "candidate: loading kernel\ncandidate: launching on %s\n", inputs.c_str());
    std::fflush(stderr);
    ::signal(SIGSEGV, SIG_DFL);  // die by the signal itself, also where a sanitizer handles SIGSEGV
    ::raise(SIGSEGV);
  }
  if (mode == "fail") {
    std::printf("candidate: compiling kernel\n");
    std::fflush(stdout);
    std::fprintf(stderr, "Traceback (most recent call last):\nRuntimeError: NKI kernel failed: SBUF overflow\n");
    return 3;
  }
  if (mode == "hang") {
    const pid_t child = ::fork();  // a grandchild of the shell, to prove the whole group is killed
    if (child == 0) {
      for (;;) ::pause();
    }
    if (!pid_file.empty()) std::ofstream(pid_file) << ::getpid() << " " << child << "\n";
    std::fprintf(stderr, "candidate: waiting for a device that never answers\n");
    for (;;) ::pause();
  }
  if (mode == "no_output") {
    std::fprintf(stderr, "candidate: done (but forgot to save)\n");
    return 0;
  }

  Dump dump;
  Diagnostics diags;
  if (!load_dump(inputs, {}, &dump, &diags)) {
    for (const attn::Diagnostic& d : diags) std::fprintf(stderr, "%s\n", d.format().c_str());
    return 2;
  }
  Inputs in;
  std::string err;
  if (!read_dump_inputs(dump, &in, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  const CaseSpec& c = dump.spec;
  if (mode == "env") {
    const char* name = std::getenv("ATTN_DIFF_CASE");
    if (!name || c.name != name || !std::getenv("ATTN_DIFF_OUT") || !std::getenv("ATTN_DIFF_INPUTS")) {
      std::fprintf(stderr, "candidate: ATTN_DIFF_CASE/OUT/INPUTS not set as expected\n");
      return 4;
    }
  }
  const Shape& s = c.problem.shape;
  const Index4 dims = {s.batch, s.tokens, s.heads, s.head_dim};
  std::vector<double> o(s.q_elements());
  if (mode == "golden") {
    golden_attention(c.problem, in, o);
  } else if (mode.starts_with("variant:")) {  // the legitimate variants (kernels/variants.hpp)
    const VariantInfo* v = find_variant(mode.substr(8));
    if (!v) return usage(("unknown variant " + mode.substr(8)).c_str());
    if (const std::string why = variant_unsupported(*v, c.recipe); !why.empty()) return usage(why.c_str());
    std::vector<float> f(s.q_elements());
    v->run(c.problem, in, c.recipe, c.tiles, f, 1);
    o.assign(f.begin(), f.end());
  } else if (mode == "ggml:f16" || mode == "ggml:f16-q") {
    ggml_like::attention(mode == "ggml:f16-q", c, in, o);
  } else if (mode.starts_with("bug:")) {
    if (!bugs::known(mode.substr(4))) return usage("unknown bug");
    bugs::attention(mode.substr(4), c, in, o);
  } else {
    TiledOptions t{.recipe = c.recipe, .tiles = c.tiles, .threads = 1};
    if (mode.starts_with("mutant:")) {
      const MutantInfo* m = find_mutant(mode.substr(7));
      if (!m) return usage("unknown mutant");
      t.fault = m->fault;
    } else if (mode.starts_with("recipe:")) {
      const auto r = recipe_by_name(mode.substr(7));
      if (!r) return usage("unknown recipe");
      t.recipe = *r;
    } else if (mode != "correct" && mode != "nan" && mode != "wrong_shape" && mode != "env") {
      return usage(("unknown mode " + mode).c_str());
    }
    std::vector<float> f(s.q_elements());
    tiled_attention(c.problem, in, t, f);
    o.assign(f.begin(), f.end());
    if (c.backward && mode != "nan" && mode != "wrong_shape") return write_backward(c, in, t, f, out);
  }
  if (mode == "nan") o[o.size() / 2] = std::nan("");

  std::vector<std::int64_t> shape;
  std::vector<double> values;
  if (mode == "wrong_shape") {
    shape = {s.batch, s.tokens, s.heads, s.head_dim + 1};
    values.assign(s.q_elements() / s.head_dim * (s.head_dim + 1), 0.0);
  } else if (!reshaped.empty()) {
    if (reshaped.size() != 4) return usage("--reshaped-from takes an order such as bhsd");
    values = permute_from_bshd(o, dims, {reshaped[0], reshaped[1], reshaped[2], reshaped[3]});
    shape = {s.batch, s.tokens, s.heads, s.head_dim};
  } else {
    const auto l = layout_from_name(layout_name_arg);
    if (!l) return usage("unknown layout");
    values = layout_from_bshd(*l, o, dims, &shape);
    if (shape.empty()) return usage("layout cannot hold this batch");
  }
  bool ok;
  if (format == "npy") {
    const std::vector<float> f(values.begin(), values.end());
    ok = write_npy_f32(out, shape, f, &err);
  } else if (format == "safetensors" || format == "bf16-safetensors") {
    ok = write_safetensors(out, {{.name = "out", .shape = shape,
                                  .dtype = format == "safetensors" ? ArrayDType::f32 : ArrayDType::bf16,
                                  .values = values}}, &err);
  } else if (format == "bf16-bits") {
    ok = write_bf16_bits_npy(out, shape, values);
    if (!ok) err = "cannot write " + out;
  } else {
    return usage("unknown format");
  }
  if (!ok) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  return 0;
}
