// A stand-in for an external kernel, run by the CLI tests as `--candidate-cmd` or by hand before
// `compare`: it reads a dump directory the way a user's script would (case.json and the .npy
// inputs, never attn-diff's generator) and writes {out}, correctly or with a chosen defect.
//
//   attn_diff_candidate MODE INPUTS OUT [--layout L] [--format F] [--reshaped-from ORDER] [--pid-file FILE]
//
// MODE: correct | mutant:<name> | recipe:<name> (the tiled kernel in another precision) | golden |
//       variant:<name> (a legitimate variant of kernels/variants.hpp, in the case's recipe) |
//       crash | fail | hang | wrong_shape | no_output | nan | env (checks $ATTN_DIFF_*)
// F: npy (float32, default) | safetensors (F32) | bf16-safetensors | bf16-bits ('<u2' .npy)
// --reshaped-from bhsd|bsdh|sbhd: the values in that axis order under the bshd shape (a reshape
// where a transpose was meant). INPUTS or OUT "-" reads $ATTN_DIFF_INPUTS / $ATTN_DIFF_OUT.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/golden.hpp"
#include "kernels/mutants.hpp"
#include "kernels/tiled.hpp"
#include "kernels/variants.hpp"
#include "src/dumpdir.hpp"
#include "src/layout.hpp"
#include "src/npy.hpp"
#include "src/safetensors.hpp"

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

}  // namespace

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
    print_diagnostics(diags);
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
