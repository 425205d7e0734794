// attn_diff._core: the Python binding of the core library (SPEC §12, docs/python.md). It only
// converts: suites, cases and results are the core's own objects, judged by the same functions as
// `attn-diff compare` (judge_output, src/judge/runner.hpp), so the numbers are the CLI's bit for bit.
// Errors are values in the core; here they become ValueError carrying the CLI's message. The GIL is
// released while the core computes (preparing a case, the kernels, judging, diagnosis).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kernels/mutants.hpp"
#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"
#include "src/io/layout.hpp"
#include "src/judge/localisation.hpp"
#include "src/judge/runner.hpp"
#include "src/report/formats.hpp"
#include "src/report/report.hpp"
#include "src/suite/config.hpp"
#include "src/suite/dtype.hpp"
#include "src/suite/inputs.hpp"

namespace py = pybind11;
using namespace attn;

namespace {

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

std::string format_diagnostics(const Diagnostics& diags) {
  std::vector<std::string> lines;
  for (const Diagnostic& d : diags) lines.push_back(d.format());
  return fmt::format("{}", fmt::join(lines, "\n"));
}

// One case of a suite (or of check()): its spec, and the prepared references, computed on first use.
struct PyCase {
  CaseSpec spec;
  std::string suite, config_file;
  int threads = 1;
  std::unique_ptr<PreparedCase> prepared;
  std::once_flag once;
  std::function<PreparedCase()> prepare;  // how to prepare it (the seeded inputs, or check()'s)

  PreparedCase& prep() {
    py::gil_scoped_release nogil;  // before call_once: a second thread waiting in it must not hold the GIL
    std::call_once(once, [this] { prepared = std::make_unique<PreparedCase>(prepare()); });
    return *prepared;
  }
};

// A judged output: the core's CaseResult and where its case came from (for the reports).
struct PyResult {
  CaseResult result;
  std::string suite, config_file;
  // The report's case object, as report_to_json writes it (with its "suite"), so that it is
  // exactly what `compare --json` writes in cases[0].
  std::string json() const {
    return report_to_json({.suite = suite, .config_file = config_file, .cases = {result}})["cases"][0].dump();
  }
};

struct PySuite {
  std::string name, file, description;
  std::vector<std::shared_ptr<PyCase>> cases;
};

std::shared_ptr<PyCase> make_case(const CaseSpec& c, const std::string& suite, const std::string& file, int threads) {
  auto pc = std::make_shared<PyCase>();
  pc->spec = c;
  pc->suite = suite;
  pc->config_file = file;
  pc->threads = threads;
  PyCase* raw = pc.get();
  pc->prepare = [raw] { return prepare_case(raw->spec, raw->threads); };
  return pc;
}

std::shared_ptr<PySuite> load_suite_py(const std::string& path, int threads, std::optional<std::string> precision,
                                       std::optional<std::uint64_t> seed) {
  const int t = threads > 0 ? threads : default_threads();
  Suite s;
  Diagnostics diags;
  bool ok;
  {
    py::gil_scoped_release nogil;
    ok = load_suite(path, {.threads = t, .seed = seed, .precision = std::move(precision)}, &s, &diags);
  }
  if (!ok) value_error(format_diagnostics(diags));
  auto ps = std::make_shared<PySuite>();
  ps->name = s.name;
  ps->file = s.file;
  ps->description = s.description;
  for (const CaseSpec& c : s.cases) ps->cases.push_back(make_case(c, s.name, path, t));
  return ps;
}

// A read-only NumPy view of `data` kept alive by `owner` (no copy).
template <class T>
py::array view(const T* data, std::vector<py::ssize_t> shape, py::handle owner) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t step = sizeof(T);
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= shape[i];
  }
  py::array a(py::dtype::of<T>(), shape, strides, data, owner);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

std::vector<py::ssize_t> out_shape(const Shape& s) { return {s.batch, s.tokens, s.heads, s.head_dim}; }

// An output handed from Python (C-contiguous; dtype float16, float32, float64, or uint16 holding bf16
// bits) as float64 values, in its own shape.
std::vector<double> to_doubles(const py::array& a, bool bf16_bits, std::vector<std::int64_t>* shape) {
  for (py::ssize_t i = 0; i < a.ndim(); ++i) shape->push_back(a.shape(i));
  const py::ssize_t n = a.size();
  std::vector<double> v(static_cast<std::size_t>(n));
  const char kind = a.dtype().kind();
  const py::ssize_t size = a.itemsize();
  const void* p = a.data();
  py::gil_scoped_release nogil;
  if (bf16_bits && size == 2) {
    const auto* b = static_cast<const std::uint16_t*>(p);
    for (py::ssize_t i = 0; i < n; ++i) v[i] = bf16_to_float(b[i]);
  } else if (kind == 'f' && size == 2) {
    const auto* b = static_cast<const std::uint16_t*>(p);
    for (py::ssize_t i = 0; i < n; ++i) v[i] = f16_to_float(b[i]);
  } else if (kind == 'f' && size == 4) {
    const auto* b = static_cast<const float*>(p);
    for (py::ssize_t i = 0; i < n; ++i) v[i] = b[i];
  } else {
    std::memcpy(v.data(), p, n * sizeof(double));
  }
  return v;
}

// An array handed from Python as float64 in the case's canonical order: a 4-D one (out, dq, dk, dv)
// read in `layout` into `dims`, any other (lse, dsinks) of exactly `shape`.
std::vector<double> handed_array(const py::array& a, bool bf16_bits, Layout layout, const Index4& dims,
                                 const std::vector<std::int64_t>& shape, const std::string& what) {
  std::vector<std::int64_t> got;
  std::vector<double> values = to_doubles(a, bf16_bits, &got);
  if (shape.size() != 4) {
    if (got != shape)
      value_error(fmt::format("{}: error: shape ({}), expected ({})", what, fmt::join(got, ", "), fmt::join(shape, ", ")));
    return values;
  }
  std::vector<double> bshd;
  std::string err;
  bool ok;
  {
    py::gil_scoped_release nogil;
    ok = layout_to_bshd(layout, got, values, dims, what, &bshd, &err);
  }
  if (!ok) value_error(err);
  return bshd;
}

// `extra`: (name, array, bf16 bits) for each of lse, dq, dk, dv, dsinks the caller handed back.
PyResult judge_py(PyCase& c, const py::array& out, const std::string& layout, bool bf16_bits, bool diagnose,
                  const std::string& what, const std::vector<std::tuple<std::string, py::array, bool>>& extra) {
  const auto l = layout_from_name(layout);
  if (!l)
    value_error(unknown_layout_message(layout));
  const Shape& s = c.spec.problem.shape;
  const std::vector<double> bshd = handed_array(out, bf16_bits, *l, {s.batch, s.tokens, s.heads, s.head_dim},
                                                {s.batch, s.tokens, s.heads, s.head_dim}, what);
  BackwardTensors tensors;
  for (const auto& [name, array, bits] : extra) {
    const std::size_t i = tensor_index(name);
    if (i == BackwardTensors::kNames.size()) value_error(fmt::format("{}: error: not a tensor of SPEC §10", name));
    tensors.at(i) = handed_array(array, bits, *l, tensor_dims(s, i), tensor_shape(s, i), name);
  }
  if (const std::string problem = handed_tensors_problem(c.spec, tensors); !problem.empty()) value_error("error: " + problem);
  PreparedCase& p = c.prep();
  PyResult r{.suite = c.suite, .config_file = c.config_file};
  {
    py::gil_scoped_release nogil;
    r.result = judge_output(p, bshd, tensors, *l, c.threads, diagnose);
  }
  return r;
}

py::array run_kernel(py::object self, const MutantInfo* m) {
  PyCase& c = self.cast<PyCase&>();
  PreparedCase& p = c.prep();
  std::vector<float> out;
  {
    py::gil_scoped_release nogil;
    if (!m) {
      const std::vector<double>& t = p.tiled_output(c.threads);
      out.assign(t.begin(), t.end());  // exact: the tiled kernel writes float
    } else {
      out = run_tiled(p.spec, p.inputs, c.threads, m->fault);
    }
  }
  py::array_t<float> a(out_shape(c.spec.problem.shape));
  std::copy(out.begin(), out.end(), a.mutable_data());
  return a;
}

const MutantInfo& mutant_or_throw(const std::string& name) {
  if (const MutantInfo* m = find_mutant(name)) return *m;
  value_error(unknown_mutant_message(name));
}

// check(): the caller's own tensors as a one-case suite. The case is written as a suite file would
// write it and goes through the suite loader, so a bad setting gets the loader's message.
std::shared_ptr<PyCase> adhoc_case(const py::array_t<float, py::array::c_style>& q,
                                   const py::array_t<float, py::array::c_style>& k,
                                   const py::array_t<float, py::array::c_style>& v, const py::object& sinks_obj,
                                   bool causal, std::int64_t window, const py::object& q_offset,
                                   const py::object& scale, const std::string& precision, int threads) {
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4)
    value_error(fmt::format("check: error: q, k and v must be 4-d bshd tensors ([B, S, H, D]), got {}-d, {}-d and {}-d",
                            q.ndim(), k.ndim(), v.ndim()));
  for (int i = 0; i < 4; ++i)
    if (k.shape(i) != v.shape(i))
      value_error(fmt::format("check: error: k and v must have the same shape, got [{}] and [{}]",
                              fmt::join(std::vector<py::ssize_t>(k.shape(), k.shape() + 4), ", "),
                              fmt::join(std::vector<py::ssize_t>(v.shape(), v.shape() + 4), ", ")));
  if (q.shape(0) != k.shape(0) || q.shape(3) != k.shape(3))
    value_error(fmt::format("check: error: q [{}] and k [{}] must agree on the batch and the head size",
                            fmt::join(std::vector<py::ssize_t>(q.shape(), q.shape() + 4), ", "),
                            fmt::join(std::vector<py::ssize_t>(k.shape(), k.shape() + 4), ", ")));
  nlohmann::json c = {{"name", "check"},       {"batch", q.shape(0)},     {"tokens", q.shape(1)},
                      {"kv_tokens", k.shape(1)}, {"heads", q.shape(2)},   {"kv_heads", k.shape(2)},
                      {"head_dim", q.shape(3)}, {"causal", causal},       {"window", window},
                      {"precision", precision}};
  if (!q_offset.is_none()) c["q_offset"] = q_offset.cast<std::int64_t>();
  if (!scale.is_none()) c["scale"] = scale.cast<double>();
  std::vector<float> sinks;
  if (!sinks_obj.is_none()) {
    const auto s = sinks_obj.cast<py::array_t<float, py::array::c_style | py::array::forcecast>>();
    sinks.assign(s.data(), s.data() + s.size());
    c["sinks"] = std::vector<double>(sinks.begin(), sinks.end());
  }
  const nlohmann::json doc = {{"suite", "check"}, {"cases", nlohmann::json::array({c})}};
  Suite suite;
  Diagnostics diags;
  const int t = threads > 0 ? threads : default_threads();
  if (!parse_suite(doc, "check", {.threads = t}, &suite, &diags)) value_error(format_diagnostics(diags));
  auto pc = make_case(suite.cases.front(), "check", "", t);
  Inputs in;
  in.q.assign(q.data(), q.data() + q.size());
  in.k.assign(k.data(), k.data() + k.size());
  in.v.assign(v.data(), v.data() + v.size());
  in.sinks = std::move(sinks);
  PyCase* raw = pc.get();
  // Rounded (or quantised with their scales) to the recipe's input dtypes, as make_inputs does.
  pc->prepare = [raw, in = std::move(in)]() mutable {
    quantize_inputs(raw->spec.recipe, raw->spec.problem.shape, in, raw->threads);
    return prepare_case(raw->spec, std::move(in), raw->threads);
  };
  return pc;
}

// The JSON report v1 of many results, rendered by the core's writers; each given path is written
// atomically. The report's suite is theirs when they all share one, else "python"; each case keeps
// its own suite (JUnit groups by it).
void write_reports(const std::vector<std::shared_ptr<PyResult>>& results, const std::string& json_path,
                   const std::string& html, const std::string& junit, const std::string& md) {
  RunReport report;
  for (const auto& r : results) {
    if (report.cases.empty()) {
      report.suite = r->suite;
      report.config_file = r->config_file;
    } else if (report.suite != r->suite) {
      report.suite = "python";
      report.config_file = "";
    }
    report.cases.push_back(r->result);
  }
  if (results.empty()) report.suite = "python";
  std::string err;
  bool ok = true;
  {
    py::gil_scoped_release nogil;
    nlohmann::json j = report_to_json(report);
    for (std::size_t i = 0; i < results.size(); ++i) j["cases"][i]["suite"] = results[i]->suite;  // each its own
    if (!json_path.empty()) ok = ok && write_file_atomic(json_path, j.dump(2) + "\n", &err);
    if (!html.empty()) ok = ok && write_file_atomic(html, render_html(j), &err);
    if (!junit.empty()) ok = ok && write_file_atomic(junit, render_junit(j), &err);
    if (!md.empty()) ok = ok && write_file_atomic(md, render_markdown(j), &err);
  }
  if (!ok) throw std::runtime_error(err);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "attn-diff's core: suites, cases and the judge (use the attn_diff package, not this module)";
  m.attr("version") = ATTN_DIFF_VERSION;

  py::class_<PyResult, std::shared_ptr<PyResult>>(m, "Result")
      .def("json", &PyResult::json, "the report's case object, as JSON text")
      .def_property_readonly("verdict", [](const PyResult& r) { return std::string(verdict_name(r.result.verdict)); })
      .def_property_readonly("case", [](const PyResult& r) { return r.result.spec.name; })
      .def("where_lines",
           [](const PyResult& r) {
             return r.result.localisation ? localisation_lines(*r.result.localisation) : std::vector<std::string>{};
           })
      .def_property_readonly("suite", [](const PyResult& r) { return r.suite; });

  py::class_<PyCase, std::shared_ptr<PyCase>>(m, "Case")
      .def_property_readonly("name", [](const PyCase& c) { return c.spec.name; })
      .def_property_readonly("suite", [](const PyCase& c) { return c.suite; })
      .def_property_readonly("settings_json", [](const PyCase& c) { return c.spec.to_json().dump(); })
      .def_property_readonly("shape",
                             [](const PyCase& c) {
                               const Shape& s = c.spec.problem.shape;
                               py::dict d;
                               d["batch"] = s.batch;
                               d["tokens"] = s.tokens;
                               d["kv_tokens"] = s.kv_tokens;
                               d["q_offset"] = s.q_offset;
                               d["heads"] = s.heads;
                               d["kv_heads"] = s.kv_heads;
                               d["head_dim"] = s.head_dim;
                               return d;
                             })
      .def_property_readonly("causal", [](const PyCase& c) { return c.spec.problem.causal; })
      .def_property_readonly("window", [](const PyCase& c) { return c.spec.problem.window; })
      .def_property_readonly("q_offset", [](const PyCase& c) { return c.spec.problem.shape.q_offset; })
      .def_property_readonly("scale", [](const PyCase& c) { return c.spec.problem.scale; })
      .def_property_readonly("has_sinks", [](const PyCase& c) { return c.spec.problem.has_sinks; })
      .def_property_readonly("tiles", [](const PyCase& c) { return py::make_tuple(c.spec.tiles.q, c.spec.tiles.kv); })
      .def_property_readonly("precision", [](const PyCase& c) { return c.spec.recipe.name; })
      .def("inputs",
           [](py::object self) {
             PyCase& c = self.cast<PyCase&>();
             const PreparedCase& p = c.prep();
             const Shape& s = c.spec.problem.shape;
             py::dict d;
             d["q"] = view(p.inputs.q.data(), {s.batch, s.tokens, s.heads, s.head_dim}, self);
             d["k"] = view(p.inputs.k.data(), {s.batch, s.kv_tokens, s.kv_heads, s.head_dim}, self);
             d["v"] = view(p.inputs.v.data(), {s.batch, s.kv_tokens, s.kv_heads, s.head_dim}, self);
             if (c.spec.problem.has_sinks) d["sinks"] = view(p.inputs.sinks.data(), {s.heads}, self);
             if (c.spec.backward) d["do"] = view(p.inputs.dout.data(), {s.batch, s.tokens, s.heads, s.head_dim}, self);
             return d;
           })
      .def("golden_tensors",
           [](py::object self) {
             PyCase& c = self.cast<PyCase&>();
             PreparedCase& p = c.prep();
             py::dict d;
             if (p.golden_tensors)
               for (std::size_t i = 0; i < BackwardTensors::kNames.size(); ++i)
                 if (!p.golden_tensors->at(i).empty())
                   d[BackwardTensors::kNames[i]] = view(p.golden_tensors->at(i).data(), tensor_shape(c.spec.problem.shape, i), self);
             return d;
           })
      .def("input_scales",
           [](py::object self) {
             const PreparedCase& p = self.cast<PyCase&>().prep();
             py::dict d;
             d["q"] = p.inputs.q_scale;
             if (p.inputs.k_head_scales.empty()) d["k"] = p.inputs.k_scale;
             else d["k"] = p.inputs.k_head_scales;  // one per KV head (kv_scale per_head)
             if (p.inputs.v_head_scales.empty()) d["v"] = p.inputs.v_scale;
             else d["v"] = p.inputs.v_head_scales;
             if (p.spec.problem.has_sinks) d["sinks"] = p.inputs.sinks_scale;
             return d;
           })
      .def("golden",
           [](py::object self) {
             PyCase& c = self.cast<PyCase&>();
             return view(c.prep().golden.data(), out_shape(c.spec.problem.shape), self);
           })
      .def("naive",
           [](py::object self) {
             PyCase& c = self.cast<PyCase&>();
             return view(c.prep().naive.data(), out_shape(c.spec.problem.shape), self);
           })
      .def("tiled", [](py::object self) { return run_kernel(self, nullptr); })
      .def("mutant",
           [](py::object self, const std::string& name) {
             const MutantInfo& m = mutant_or_throw(name);
             const PyCase& c = self.cast<PyCase&>();
             // As `run --mutant` reports such a case `unsupported`: the bug does not exist in this recipe.
             if (const std::string why = mutant_unsupported(m, c.spec); !why.empty())
               value_error(fmt::format("case '{}': error: mutant '{}' cannot run this case: {}", printable(c.spec.name),
                                       m.name, why));
             return run_kernel(self, &m);
           })
      .def(
          "judge",
          [](PyCase& c, const py::array& out, const std::string& layout, bool bf16_bits, bool diagnose,
             const std::string& what, const std::vector<std::tuple<std::string, py::array, bool>>& extra) {
            return std::make_shared<PyResult>(judge_py(c, out, layout, bf16_bits, diagnose, what, extra));
          },
          py::arg("out"), py::arg("layout") = "bshd", py::arg("bf16_bits") = false, py::arg("diagnose") = true,
          py::arg("what") = "out", py::arg("extra") = std::vector<std::tuple<std::string, py::array, bool>>{});

  py::class_<PySuite, std::shared_ptr<PySuite>>(m, "Suite")
      .def_readonly("name", &PySuite::name)
      .def_readonly("file", &PySuite::file)
      .def_readonly("description", &PySuite::description)
      .def_readonly("cases", &PySuite::cases);

  m.def("load_suite", &load_suite_py, py::arg("path"), py::arg("threads") = 0, py::arg("precision") = py::none(),
        py::arg("seed") = py::none());
  m.def("adhoc_case", &adhoc_case, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("sinks"), py::arg("causal"),
        py::arg("window"), py::arg("q_offset"), py::arg("scale"), py::arg("precision"), py::arg("threads") = 0);
  m.def("write_reports", &write_reports, py::arg("results"), py::arg("json") = "", py::arg("html") = "",
        py::arg("junit") = "", py::arg("md") = "");
  m.def("mutant_names", &mutant_names);
  m.def("layout_names", &layout_names);
}
