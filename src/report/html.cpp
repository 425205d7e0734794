// The HTML report (src/report/formats.hpp): one file, no network. Heatmaps and the histogram are
// inline SVG drawn here from the report's `breakdown`; a Content-Security-Policy forbids every
// external resource, and a three-line inline script marks the page as rendered for the test.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <optional>
#include <tuple>

#include "src/base/numfmt.hpp"
#include "src/judge/diagnosis.hpp"
#include "src/judge/localisation.hpp"
#include "src/report/baseline.hpp"
#include "src/report/formats.hpp"

namespace attn {

using nlohmann::json;

namespace {

std::string esc(const std::string& s) { return escape_markup(s); }

std::optional<double> number(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return std::nullopt;
  return j.at(key).get<double>();
}

std::string sci(const std::optional<double>& x, const char* f = "{:.3g}") {
  return x ? fmt::format(fmt::runtime(f), *x) : std::string("–");
}

const char* kStyle = R"(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2127;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:0 0 6px} h3{font-size:14px;margin:14px 0 6px;color:#39424e}
table{border-collapse:collapse;margin:4px 0} th,td{padding:3px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#f4f6f8;font-weight:600} table.summary td.n{white-space:nowrap} td.n{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;color:#fff}
.pass{background:#1f883d}.fail{background:#cf222e}.error{background:#bf8700}.unsupported{background:#57606a}
tr.bad td{background:#fff1f0} .ok{color:#1f883d;font-weight:600} .no{color:#cf222e;font-weight:700}
section.case{border:1px solid #d0d7de;border-radius:8px;padding:14px 18px;margin:18px 0}
section.case.verdict-fail{border-left:6px solid #cf222e} section.case.verdict-pass{border-left:6px solid #1f883d}
section.case.verdict-error{border-left:6px solid #bf8700}
.meta{color:#57606a;margin:0 0 8px} .grid{display:flex;flex-wrap:wrap;gap:24px} .note{color:#57606a;font-size:12px}
pre{background:#f6f8fa;padding:8px;white-space:pre-wrap} svg{display:block;margin:4px 0} svg text{font:11px system-ui,sans-serif;fill:#39424e}
ul{margin:4px 0;padding-left:20px}
)";

// The "inferno" colour map at 7 stops, interpolated in RGB: dark for small errors, bright for large.
std::string colour(double t) {
  static const std::array<std::array<int, 3>, 7> stops = {{{0, 0, 4}, {50, 10, 94}, {120, 28, 109}, {188, 55, 84},
                                                          {237, 105, 37}, {251, 182, 26}, {252, 255, 164}}};
  t = std::clamp(t, 0.0, 1.0) * double(stops.size() - 1);
  const std::size_t k = std::min(std::size_t(t), stops.size() - 2);
  const double f = t - double(k);
  std::array<int, 3> c{};
  for (int i = 0; i < 3; ++i) c[i] = int(std::lround(stops[k][i] + f * (stops[k + 1][i] - stops[k][i])));
  return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
}

// A log colour scale over [lo, hi]; 0 and values below lo take the darkest colour.
struct Scale {
  double lo = 1e-12, hi = 1.0;
  double t(double v) const {
    if (!(v > lo)) return 0.0;
    return hi > lo ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : 1.0;
  }
};

// Cells: number, null (no data: hatched) or "nonfinite" (magenta).
Scale scale_of(const json& cells, std::optional<double> mark) {
  double hi = 0.0, lo = HUGE_VAL;
  for (const json& row : cells)
    for (const json& v : row)
      if (v.is_number() && v.get<double>() > 0) hi = std::max(hi, v.get<double>()), lo = std::min(lo, v.get<double>());
  if (mark && *mark > 0) hi = std::max(hi, *mark), lo = std::min(lo, *mark);
  if (hi == 0.0) return {1e-12, 1.0};
  return {std::max(lo, hi * 1e-4), hi};
}

struct Axis {
  std::string label;                        // "query token"
  std::int64_t step = 1, count = 0;         // source items per cell, source items
  std::function<std::string(std::int64_t)> name = [](std::int64_t i) { return std::to_string(i); };
};

// Up to `n` tick positions (cell indices) over `cells`, always including the first.
std::vector<std::int64_t> ticks(std::int64_t cells, int n) {
  std::vector<std::int64_t> t;
  const std::int64_t every = std::max<std::int64_t>(1, (cells + n - 1) / n);
  for (std::int64_t c = 0; c < cells; c += every) t.push_back(c);
  return t;
}

std::string heatmap_svg(const json& hm, const Axis& x, const Axis& y, std::optional<double> mark,
                        const std::string& mark_label) {
  const json& cells = hm.at("cells");
  const std::int64_t rows = hm.value("rows", 0), cols = hm.value("cols", 0);
  if (rows == 0 || cols == 0) return "<p class=\"note\">no data</p>";
  // Cells as large as reads well, and a plot never smaller than its axis labels (a 1 × 1 tile grid).
  const double cw = std::max(std::clamp(880.0 / double(cols), 2.0, 40.0), 160.0 / double(cols));
  const double ch = std::max(std::clamp(320.0 / double(rows), 3.0, 32.0), 72.0 / double(rows));
  const double left = 64, top = 8, w = cw * double(cols), h = ch * double(rows), bar_x = left + w + 24;
  const double bar_h = std::max(h, 120.0), width = bar_x + 150, height = top + std::max(h + 44, bar_h + 22);
  const Scale sc = scale_of(cells, mark);
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" role=\"img\">"
      "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
      "<rect width=\"6\" height=\"6\" fill=\"#eef0f3\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#aab2bd\" stroke-width=\"2\"/>"
      "</pattern></defs>",
      width, height);
  // One rect per run of equal colour in a row keeps large grids small.
  for (std::int64_t r = 0; r < rows; ++r) {
    const json& row = cells.at(std::size_t(r));
    std::int64_t c = 0;
    while (c < cols) {
      const json& v = row.at(std::size_t(c));
      const std::string fill = v.is_null() ? "url(#hatch)" : v.is_string() ? "#ff00ff" : colour(sc.t(v.get<double>()));
      std::int64_t end = c + 1;
      while (end < cols) {
        const json& u = row.at(std::size_t(end));
        const std::string f2 = u.is_null() ? "url(#hatch)" : u.is_string() ? "#ff00ff" : colour(sc.t(u.get<double>()));
        if (f2 != fill) break;
        ++end;
      }
      s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>", left + cw * double(c),
                       top + ch * double(r), cw * double(end - c) + 0.3, ch + 0.3, fill);
      c = end;
    }
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#8c959f\"/>", left, top, w, h);
  for (std::int64_t c : ticks(cols, 12)) {
    const double px = left + cw * (double(c) + 0.5);
    const std::int64_t lo = c * x.step, hi = std::min(x.count, lo + x.step) - 1;
    const std::string label = x.step == 1 ? x.name(lo) : fmt::format("{}–{}", x.name(lo), x.name(hi));
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#8c959f\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>",
                     px, top + h, top + h + 4, top + h + 15, esc(label));
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-weight=\"600\">{}</text>", left + w / 2,
                   top + h + 34, esc(x.label));
  for (std::int64_t r : ticks(rows, std::max(1, int(h / 14)))) {
    const std::int64_t lo = r * y.step, hi = std::min(y.count, lo + y.step) - 1;
    const std::string label = y.step == 1 ? y.name(lo) : fmt::format("{}–{}", y.name(lo), y.name(hi));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>", left - 4,
                     top + ch * (double(r) + 0.5), esc(label));
  }
  s += fmt::format("<text transform=\"translate(12,{:.1f}) rotate(-90)\" text-anchor=\"middle\" font-weight=\"600\">{}</text>",
                   top + h / 2, esc(y.label));
  // Colour bar: decades from lo to hi, the precision yardstick marked.
  const double steps = 48;
  for (int k = 0; k < int(steps); ++k)
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"{:.2f}\" fill=\"{}\"/>", bar_x,
                     top + bar_h * (1.0 - (k + 1) / steps), bar_h / steps + 0.3, colour((k + 0.5) / steps));
  auto bar_y = [&](double v) { return top + bar_h * (1.0 - sc.t(v)); };
  for (int d = int(std::ceil(std::log10(sc.lo) - 1e-9)); d <= int(std::floor(std::log10(sc.hi) + 1e-9)); ++d)
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#39424e\"/>"
                     "<text x=\"{3:.1f}\" y=\"{2:.1f}\" dominant-baseline=\"middle\">1e{4}</text>",
                     bar_x + 14, bar_x + 18, bar_y(std::pow(10.0, d)), bar_x + 20, d);
  if (mark && *mark > 0)
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#0969da\" stroke-width=\"2\"/>"
                     "<text x=\"{3:.1f}\" y=\"{4:.1f}\" fill=\"#0969da\" style=\"fill:#0969da\">{5} {6:.2g}</text>",
                     bar_x - 3, bar_x + 17, bar_y(*mark), bar_x + 52, bar_y(*mark) + 12, esc(mark_label), *mark);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">max |error|</text>", bar_x, top + bar_h + 14);
  return s + "</svg>";
}

// A backward case's tensors beside the output, in SPEC §10's order (a JSON object's is alphabetical).
constexpr const char* kTensorOrder[] = {"lse", "dq", "dk", "dv", "dsinks"};

// A backward case's tensors (SPEC §10): one heatmap per tensor that has one, marked with naive's
// max_abs for that tensor.
std::string tensor_heatmaps(const json& c) {
  if (!c.contains("tensors") || !c.at("tensors").is_object()) return "";
  const json& sh = c.value("shape", json::object());
  const bool batched = sh.value("batch", 1) > 1;
  std::string s;
  for (const std::string name : kTensorOrder) {
    const json& t = c.at("tensors").value(name, json::object());
    if (!t.is_object() || !t.contains("heatmap")) continue;
    const json& hm = t.at("heatmap");
    const bool query_side = name == "lse" || name == "dq";
    const std::int64_t heads = std::max<std::int64_t>(1, sh.value(query_side ? "heads" : "kv_heads", 1));
    const char* head = query_side ? "h" : "kvh";
    Axis x{.label = query_side ? "query token i" : "key token j", .step = hm.value("col_step", 1),
           .count = hm.value("source_cols", 0)};
    Axis y{.label = std::string(batched ? "batch, " : "") + (query_side ? "head" : "kv head"), .step = hm.value("row_step", 1),
           .count = hm.value("source_rows", 0), .name = [heads, batched, head](std::int64_t r) {
             return batched ? fmt::format("b{} {}{}", r / heads, head, r % heads) : fmt::format("{}{}", head, r);
           }};
    const std::optional<double> naive =
        number(t.value("metrics", json::object()).value("naive_vs_golden", json::object()), "max_abs");
    s += fmt::format("<h3>{}: max |error| per {} × {}</h3>", esc(name), esc(y.label), esc(x.label)) +
         heatmap_svg(hm, x, y, naive, "naive max");
  }
  return s;
}

std::string histogram_svg(const json& hist, std::optional<double> mark, const std::string& mark_label) {
  const json& counts = hist.value("counts", json::array());
  const int bpd = hist.value("bins_per_decade", 4), first = hist.value("first", 0);
  const std::int64_t zero = hist.value("zero", 0), nonfinite = hist.value("nonfinite", 0);
  std::string extra = fmt::format("<p class=\"note\">{} elements with error exactly 0{}; bins of a quarter decade.</p>",
                                  zero, nonfinite ? fmt::format(", {} non-finite", nonfinite) : "");
  if (counts.empty()) return extra;
  std::int64_t peak = 1;
  for (const json& c : counts) peak = std::max(peak, c.get<std::int64_t>());
  const double bw = std::clamp(700.0 / double(counts.size()), 6.0, 40.0), left = 56, top = 8, h = 140;
  const double w = bw * double(counts.size());
  std::string s = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" role=\"img\">",
                              left + w + 140, top + h + 40);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    const double n = counts[k].get<double>(), bh = h * n / double(peak);
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#6e7781\"/>",
                     left + bw * double(k) + 1, top + h - bh, bw - 2, bh);
  }
  s += fmt::format("<line x1=\"{0}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#39424e\"/>", left, left + w, top + h);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text><text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">0</text>",
                   left - 4, top + 8, peak, left - 4, top + h);
  for (std::size_t k = 0; k <= counts.size(); ++k)
    if ((first + int(k)) % bpd == 0)
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">1e{}</text>", left + bw * double(k),
                       top + h + 14, (first + int(k)) / bpd);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-weight=\"600\">|candidate − golden| (elements per bin)</text>",
                   left + w / 2, top + h + 32);
  if (mark && *mark > 0) {
    const double px = left + bw * (std::log10(*mark) * bpd - first);
    if (px >= left && px <= left + w)
      s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2:.1f}\" stroke=\"#0969da\" stroke-width=\"2\"/>"
                       "<text x=\"{3:.1f}\" y=\"{4:.1f}\" style=\"fill:#0969da\">{5}</text>",
                       px, top, top + h, px + 4, top + 10, esc(mark_label));
  }
  return s + "</svg>" + extra;
}

std::string features(const json& c) {
  const json& f = c.value("features", json::object());
  const json& s = c.value("shape", json::object());
  std::vector<std::string> out = {f.value("causal", true) ? "causal" : "full"};
  if (f.value("window", 0)) out.push_back(fmt::format("window {}", f.value("window", 0)));
  if (f.value("sinks", false)) out.push_back("sinks");
  const std::int64_t heads = s.value("heads", 1), kv = std::max<std::int64_t>(1, s.value("kv_heads", 1));
  if (heads / kv > 1) out.push_back(fmt::format("GQA {} query heads per kv head", heads / kv));
  if (s.value("q_offset", 0)) out.push_back(fmt::format("offset {}", s.value("q_offset", 0)));
  return fmt::format("{}", fmt::join(out, ", "));
}

std::string shape(const json& c) {
  const json& s = c.value("shape", json::object());
  return fmt::format("B={} Sq={} Sk={} H={} Hkv={} D={}", s.value("batch", 0), s.value("tokens", 0), s.value("kv_tokens", 0),
                     s.value("heads", 0), s.value("kv_heads", 0), s.value("head_dim", 0));
}

std::string gates_table(const json& c) {
  std::string s = "<table><tr><th>gate</th><th>value</th><th>bound</th><th>margin</th><th></th><th>how the bound is formed</th></tr>";
  // The output's gates, then a backward case's tensors' (SPEC §10) as "dk: max_abs_vs_naive".
  std::vector<std::pair<std::string, json>> rows;
  for (const json& g : c.value("gates", json::array())) rows.emplace_back("", g);
  const json tensors = c.value("tensors", json::object());
  for (const char* t : kTensorOrder)
    if (tensors.contains(t))
      for (const json& g : tensors.at(t).value("gates", json::array())) rows.emplace_back(std::string(t) + ": ", g);
  for (const auto& [prefix, g] : rows) {
    const auto value = number(g, "value"), bound = number(g, "bound");
    const bool lower = g.value("name", "").starts_with("min_");
    const std::string name = prefix + g.value("name", "");
    std::string margin = "–";
    if (value && bound) {
      margin = fmt::format("{:+.3g}", lower ? *value - *bound : *bound - *value);
      if (!lower && *bound > 0) margin += fmt::format(" ({:.0f}% of bound used)", 100.0 * *value / *bound);
    }
    const bool pass = g.value("pass", true);
    // The digits that tell value and bound apart (src/base/numfmt.hpp), as in the failure lines.
    std::string value_text = sci(value, "{:.4g}"), bound_text = sci(bound, "{:.4g}");
    if (value && bound) std::tie(value_text, bound_text) = distinct_digits(*value, *bound);
    s += fmt::format("<tr{}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"{}\">{}</td>"
                     "<td class=\"note\">{}</td></tr>",
                     pass ? "" : " class=\"bad\"", esc(name), value_text, bound_text, esc(margin),
                     pass ? "ok" : "no", pass ? "pass" : "FAIL", esc(g.value("note", "")));
  }
  return s + "</table>";
}

std::string metrics_table(const json& c) {
  const json& m = c.at("metrics");
  std::vector<std::pair<std::string, const json*>> cols = {{"candidate vs golden", &m.at("vs_golden")},
                                                           {"candidate vs naive", &m.at("vs_naive")},
                                                           {"naive vs golden (precision explains)", &m.at("naive_vs_golden")}};
  if (m.contains("expected_vs_golden")) cols.push_back({"correct tiled vs golden", &m.at("expected_vs_golden")});
  std::string s = "<table><tr><th>metric</th>";
  for (const auto& [name, _] : cols) s += "<th>" + esc(name) + "</th>";
  s += "</tr>";
  for (const char* f : {"max_abs", "mae", "rmse", "max_rel", "nmse", "pearson", "cosine", "pass_rate", "min_atol", "min_rtol"}) {
    s += fmt::format("<tr><td>{}</td>", f);
    for (const auto& [_, mj] : cols) {
      const char* format = std::string(f) == "pearson" || std::string(f) == "cosine" ? "{:.6f}" : "{:.3e}";
      s += fmt::format("<td class=\"n\">{}</td>", sci(number(*mj, f), format));
    }
    s += "</tr>";
  }
  s += "<tr><td>max_abs at [b,i,h,d]</td>";
  for (const auto& [_, mj] : cols) s += fmt::format("<td class=\"n\">{}</td>", esc(mj->value("max_abs_index", json()).dump()));
  return s + "</tr></table>";
}

std::string worst_table(const json& c) {
  std::string s = "<table><tr><th>#</th><th>[b, i, h, d]</th><th>candidate</th><th>golden</th><th>|error|</th></tr>";
  int n = 0;
  for (const json& w : c.value("worst", json::array()))
    s += fmt::format("<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                     ++n, esc(w.value("index", json()).dump()), sci(number(w, "candidate"), "{:.6g}"),
                     sci(number(w, "reference"), "{:.6g}"), sci(number(w, "abs_err"), "{:.3e}"));
  return s + "</table>";
}

std::string case_section(const json& c, std::size_t id) {
  const std::string verdict = c.value("verdict", "");
  const json& t = c.value("tiles", json::object());
  std::string s = fmt::format("<section class=\"case verdict-{0}\" id=\"case-{1}\"><h2>{2} <span class=\"badge {0}\">{0}</span></h2>",
                              esc(verdict), id, esc(c.value("name", "")));
  s += fmt::format("<p class=\"meta\">{} · {} · {} · tiles {}×{} · kernel <b>{}</b> · seed {} · {:.3f} s</p>", esc(shape(c)),
                   esc(features(c)), esc(c.value("precision", "")), t.value("q", 0), t.value("kv", 0),
                   esc(c.value("kernel", "")), c.value("seed", std::uint64_t{0}), c.value("seconds", 0.0));
  if (!c.contains("metrics")) return s + "<pre>" + esc(c.value("error", "")) + "</pre></section>\n";
  if (!c.value("failures", json::array()).empty()) {
    s += "<ul>";
    for (const json& f : c.at("failures")) s += "<li class=\"no\">" + esc(f.get<std::string>()) + "</li>";
    s += "</ul>";
  }
  if (const std::vector<std::string> where = localisation_lines(c); !where.empty()) {  // src/judge/localisation.hpp
    s += "<h3>Where the error is</h3><ul class=\"where\">";
    for (const std::string& l : where) s += "<li>" + esc(l) + "</li>";
    s += "</ul>";
  }
  s += "<div class=\"grid\"><div><h3>Gates and their margins</h3>" + gates_table(c) + "</div>";
  s += "<div><h3>Error against golden and naive, next to what the precision explains</h3>" + metrics_table(c);
  if (c.contains("explained") && c.at("explained").contains("note"))
    s += "<p class=\"note\">" + esc(c.at("explained").value("note", "")) + "</p>";
  s += "</div></div>";
  const std::optional<double> naive = number(c.value("explained", json::object()), "naive_max_abs");
  if (c.contains("breakdown")) {
    const json& b = c.at("breakdown");
    const json& sh = c.value("shape", json::object());
    const std::int64_t heads = std::max<std::int64_t>(1, sh.value("heads", 1));
    const bool batched = sh.value("batch", 1) > 1;
    const json& ht = b.at("heatmap_head_token");
    Axis x{.label = "query token i", .step = ht.value("col_step", 1), .count = ht.value("source_cols", 0)};
    Axis y{.label = batched ? "batch, head" : "head", .step = ht.value("row_step", 1), .count = ht.value("source_rows", 0),
           .name = [heads, batched](std::int64_t r) {
             return batched ? fmt::format("b{} h{}", r / heads, r % heads) : fmt::format("h{}", r);
           }};
    s += "<h3>max |error| per head × query token</h3>" + heatmap_svg(ht, x, y, naive, "naive max");
    const json& tl = b.at("heatmap_tiles");
    const std::int64_t tq = tl.value("q_tile", 1), tk = tl.value("kv_tile", 1);
    Axis tx{.label = fmt::format("KV tile ({} keys each)", tk), .step = tl.value("col_step", 1), .count = tl.value("source_cols", 0)};
    Axis ty{.label = "query tile", .step = tl.value("row_step", 1), .count = tl.value("source_rows", 0)};
    s += fmt::format("<h3>max |error| per query tile × KV tile</h3><p class=\"note\">A row's error is charged to every KV tile "
                     "it reads; hatched: no row of the {}-query tile reads the KV tile, which the kernel skips.</p>",
                     tq) +
         heatmap_svg(tl, tx, ty, naive, "naive max");
    s += "<h3>Error histogram</h3>" + histogram_svg(b.at("histogram"), naive, "naive max");
  }
  s += tensor_heatmaps(c);
  s += "<h3>Worst elements</h3>" + worst_table(c);
  if (c.contains("baseline")) {
    const json& bl = c.at("baseline");
    auto change = [&](const char* key) { return format_change(bl.value(key, json())); };
    s += fmt::format("<h3>Against the baseline</h3><p>max_abs {} → {} ({}), mae {} → {} ({})</p>", sci(number(bl, "max_abs")),
                     sci(number(c.at("metrics").at("vs_golden"), "max_abs")), change("max_abs_change"),
                     sci(number(bl, "mae")), sci(number(c.at("metrics").at("vs_golden"), "mae")), change("mae_change"));
  }
  if (!c.value("coverage", json::array()).empty()) {
    std::vector<std::string> paths;
    for (const json& p : c.at("coverage")) paths.push_back("<code>" + esc(p.get<std::string>()) + "</code>");
    s += fmt::format("<h3>Tile coverage</h3><p>{}</p>", fmt::join(paths, " "));
  }
  if (c.contains("diagnosis")) {
    // The verdict first; the ranking only when a hypothesis explains the output (below the
    // threshold a ranking would read as a list of causes).
    const DiagnosisVerdict v = diagnosis_verdict_of_case(c);
    s += "<h3>Diagnosis</h3><p class=\"verdict\">" + esc(v.text()) + "</p>";
    if (v.explained()) {
      s += "<ol>";
      for (const json& h : c.at("diagnosis").value("hypotheses", json::array()))
        if (h.value("score", 0.0) > 0)
          s += fmt::format("<li><b>{}</b> {:.3f}: {}</li>", esc(h.value("name", "")), h.value("score", 0.0),
                           esc(h.value("evidence", "")));
      s += "</ol>";
    }
  }
  return s + "</section>\n";
}

int verdict_rank(const json& c) {
  const std::string v = c.value("verdict", "");
  return v == "fail" ? 0 : v == "error" ? 1 : v == "unsupported" ? 3 : 2;
}

}  // namespace

std::string render_html(const json& report) {
  std::vector<std::pair<const json*, std::size_t>> cases;  // failing first, otherwise in run order
  for (const json& c : report.at("cases")) cases.push_back({&c, cases.size()});
  std::stable_sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) { return verdict_rank(*a.first) < verdict_rank(*b.first); });
  const json& sum = report.at("summary");
  const bool incomplete = sum.value("incomplete", false);
  const bool ok = sum.value("failed", 0) == 0 && sum.value("errors", 0) == 0 && !incomplete;
  const char* verdict = incomplete ? "INCOMPLETE" : ok ? "pass" : "FAIL";
  const std::string suite = report.value("suite", "");
  std::string s = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "script-src 'unsafe-inline'; img-src data:\">"
      "<meta name=\"viewport\" content=\"width=device-width\"><title>attn-diff {}: {}</title><style>{}</style></head>\n<body>\n",
      esc(suite), verdict, kStyle);
  s += fmt::format("<h1>attn-diff — {}</h1><p class=\"meta\"><span class=\"badge {}\">{}</span> {} cases, {} passed, {} failed",
                   esc(suite), ok ? "pass" : "fail", incomplete ? "incomplete" : ok ? "pass" : "fail", sum.value("cases", 0), sum.value("passed", 0),
                   sum.value("failed", 0));
  if (sum.value("errors", 0)) s += fmt::format(", {} errors", sum.value("errors", 0));
  if (sum.value("unsupported", 0)) s += fmt::format(", {} unsupported", sum.value("unsupported", 0));
  s += fmt::format(" · config {} · attn-diff {}", esc(report.value("config", "")),
                   esc(report.value("tool", json::object()).value("version", "")));
  if (report.contains("shard")) s += " · shard " + esc(report.value("shard", ""));
  if (sum.value("incomplete", false)) s += fmt::format(" · <b>interrupted</b>, {} cases not run", sum.value("not_run", 0));
  s += "</p>\n";
  const bool baseline = report.contains("baseline");
  s += "<table class=\"summary\"><tr><th>case</th><th>verdict</th><th>shape</th><th>features</th><th>precision</th><th>kernel</th>"
       "<th>max_abs</th><th>naive max</th><th>mae</th>";
  s += baseline ? "<th>Δmax_abs</th><th>Δmae</th>" : "";
  s += "<th>first failure</th></tr>\n";
  for (const auto& [c, id] : cases) {
    const json m = c->contains("metrics") ? c->at("metrics").at("vs_golden") : json::object();
    const std::string verdict = c->value("verdict", "");
    const json& f = c->value("failures", json::array());
    s += fmt::format("<tr{}><td><a href=\"#case-{}\">{}</a></td><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}</td>"
                     "<td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                     verdict == "pass" ? "" : " class=\"bad\"", id, esc(c->value("name", "")), esc(verdict), esc(verdict),
                     esc(shape(*c)), esc(features(*c)), esc(c->value("precision", "")), esc(c->value("kernel", "")),
                     sci(number(m, "max_abs"), "{:.2e}"),
                     sci(number(c->value("explained", json::object()), "naive_max_abs"), "{:.2e}"), sci(number(m, "mae"), "{:.2e}"));
    if (baseline) {
      const json bl = c->value("baseline", json::object());
      for (const char* key : {"max_abs_change", "mae_change"})
        s += "<td class=\"n\">" + (c->contains("baseline") ? format_change(bl.value(key, json())) : std::string("new")) + "</td>";
    }
    s += fmt::format("<td>{}</td></tr>\n", esc(!f.empty() ? f[0].get<std::string>() : c->value("error", "")));
  }
  s += "</table>\n";
  if (baseline) {
    const json& b = report.at("baseline");
    for (const char* key : {"new", "vanished"})
      if (!b.value(key, json::array()).empty()) {
        std::vector<std::string> names;
        for (const json& n : b.at(key)) names.push_back("<code>" + esc(n.get<std::string>()) + "</code>");
        s += fmt::format("<p>{} since the baseline: {}</p>\n", std::string(key) == "new" ? "New cases" : "Vanished cases",
                         fmt::join(names, ", "));
      }
  }
  for (const auto& [c, id] : cases) s += case_section(*c, id);
  // The render test reads these markers back from the DOM Chromium built.
  s += "<script>window.addEventListener('error',function(e){document.body.dataset.error=String(e.message);});"
       "document.body.dataset.rendered='ok';document.body.dataset.cases=String(document.querySelectorAll('section.case').length);"
       "</script>\n</body></html>\n";
  return s;
}

}  // namespace attn
