#include "src/report/table.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "src/report/baseline.hpp"

namespace attn {

namespace {

std::string paint(bool color, const char* code, const std::string& text) {
  return color ? fmt::format("\033[{}m{}\033[0m", code, text) : text;
}

const char* verdict_color(Verdict v) {
  switch (v) {
    case Verdict::pass: return "32";
    case Verdict::fail: return "1;31";
    case Verdict::error: return "1;33";
    case Verdict::unsupported: return "36";
  }
  return "0";
}

std::string num(const std::optional<double>& x, const char* f = "{:.3g}") {
  return x ? fmt::format(fmt::runtime(f), *x) : std::string("-");
}

}  // namespace

std::string shape_label(const Shape& s) {
  return fmt::format("{}x{}/{}x{}/{}x{}", s.batch, s.tokens, s.kv_tokens, s.heads, s.kv_heads, s.head_dim);
}

std::string features_label(const CaseSpec& c) {
  std::vector<std::string> f;
  f.push_back(c.problem.causal ? "causal" : "full");
  if (c.problem.window) f.push_back(fmt::format("w{}", c.problem.window));
  if (c.problem.has_sinks) f.push_back("sinks");
  if (c.problem.shape.q_mult() > 1) f.push_back(fmt::format("gqa{}", c.problem.shape.q_mult()));
  if (c.problem.shape.q_offset) f.push_back(fmt::format("off{}", c.problem.shape.q_offset));
  if (c.backward) f.push_back("bwd");
  f.push_back(fmt::format("t{}x{}", c.tiles.q, c.tiles.kv));
  return fmt::format("{}", fmt::join(f, " "));
}

std::string render_table(const RunReport& r, bool color) {
  struct Row {
    std::vector<std::string> cells;
    Verdict v;
  };
  // "tiled max" (the correct kernel's error) only matters when the candidate is something else.
  const bool other = std::any_of(r.cases.begin(), r.cases.end(), [](const CaseResult& c) { return c.expected_vs_golden.has_value(); });
  std::vector<std::string> head = {"case", "B×Sq/Sk×H/Hkv×D", "features", "precision", "mae", "max_abs",
                                   "at [b,i,h,d]", "naive max"};
  if (other) head.push_back("tiled max");
  if (r.baseline) head.insert(head.end(), {"Δmax_abs", "Δmae"});
  // An external command's wall time per case (run --candidate-cmd): users time their kernel so.
  const bool timed = std::any_of(r.cases.begin(), r.cases.end(), [](const CaseResult& c) { return c.candidate_run.has_value(); });
  for (const char* h : {"pearson", "pass%"}) head.push_back(h);
  if (timed) head.push_back("cmd s");
  head.push_back("verdict");
  std::vector<Row> rows;
  for (const CaseResult& c : r.cases) {
    Row row{{c.spec.name, shape_label(c.spec.problem.shape), features_label(c.spec), c.spec.recipe.name}, c.verdict};
    if (c.verdict == Verdict::error || c.verdict == Verdict::unsupported) {
      for (std::size_t i = row.cells.size(); i + 1 + timed < head.size(); ++i) row.cells.push_back("-");
    } else {
      const Metrics& m = c.vs_golden;
      row.cells.push_back(num(m.mae, "{:.2e}"));
      row.cells.push_back(num(m.max_abs, "{:.2e}"));
      row.cells.push_back(m.max_abs ? fmt::format("[{}]", fmt::join(m.max_abs_index, ",")) : "-");
      row.cells.push_back(num(c.naive_vs_golden.max_abs, "{:.2e}"));
      if (other) row.cells.push_back(c.expected_vs_golden ? num(c.expected_vs_golden->max_abs, "{:.2e}") : "-");
      if (r.baseline) {
        row.cells.push_back(c.baseline ? format_change(relative_change(c.baseline->max_abs, m.max_abs)) : "new");
        row.cells.push_back(c.baseline ? format_change(relative_change(c.baseline->mae, m.mae)) : "new");
      }
      row.cells.push_back(num(m.pearson, "{:.6f}"));
      row.cells.push_back(fmt::format("{:.2f}", 100.0 * m.pass_rate));
    }
    if (timed) row.cells.push_back(c.candidate_run ? fmt::format("{:.2f}", c.candidate_run->seconds) : "-");
    row.cells.push_back(verdict_name(c.verdict));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(head.size());
  auto cols = [](const std::string& s) {  // display width: count UTF-8 lead bytes only
    return std::size_t(std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  };
  for (std::size_t i = 0; i < head.size(); ++i) width[i] = cols(head[i]);
  for (const Row& row : rows)
    for (std::size_t i = 0; i < head.size(); ++i) width[i] = std::max(width[i], cols(row.cells[i]));
  auto line = [&](const std::vector<std::string>& cells, const Row* row) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::string cell = cells[i] + std::string(width[i] - cols(cells[i]), ' ');
      if (row && i + 1 == cells.size()) cell = paint(color, verdict_color(row->v), cells[i]);
      out += (i ? "  " : "") + cell;
    }
    return out + "\n";
  };
  std::string out = line(head, nullptr);
  for (const Row& row : rows) out += line(row.cells, &row);
  return out + render_case_lines(r, true);
}

std::string render_case_lines(const RunReport& r, bool recipe_notes) {
  std::string out;
  std::vector<std::string> notes;
  for (const CaseResult& c : r.cases) {
    const std::string& note = c.spec.recipe.note;
    if (!note.empty() && std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
    if (c.verdict == Verdict::fail)
      for (const std::string& f : c.failures) out += fmt::format("  {}: {}\n", c.spec.name, f);
    if (c.verdict == Verdict::fail && c.localisation)  // where the error is, in words (src/judge/localisation.hpp)
      for (const std::string& l : localisation_lines(*c.localisation)) out += fmt::format("  {}: where: {}\n", c.spec.name, l);
    for (const TensorResult& t : c.tensors)  // and where each failing tensor's is (src/judge/tensor_localisation.hpp)
      if (t.localisation) out += fmt::format("  {}: where: {}\n", c.spec.name, t.localisation->summary);
    if (c.verdict == Verdict::error || c.verdict == Verdict::unsupported)
      out += fmt::format("  {}: {}: {}\n", c.spec.name, verdict_name(c.verdict), c.error);
  }
  if (r.baseline)
    for (const auto& [label, names] : {std::pair{"new since the baseline", &r.baseline->new_cases},
                                       std::pair{"vanished since the baseline", &r.baseline->vanished_cases}})
      if (!names->empty()) out += fmt::format("  {}: {}\n", label, fmt::join(*names, ", "));
  for (const CaseResult& c : r.cases)
    if (auto it = std::find(notes.begin(), notes.end(), c.spec.recipe.note); recipe_notes && it != notes.end()) {
      out += fmt::format("  note: {}: {}\n", c.spec.recipe.name, *it);
      notes.erase(it);
    }
  return out;
}

std::string render_summary(const RunReport& r, bool color, double seconds) {
  const bool ok = r.failed() == 0 && r.errors() == 0 && !r.incomplete;
  std::string s = fmt::format("{}{}: {} cases, {} passed, {} failed", r.suite, r.shard.empty() ? "" : " shard " + r.shard,
                              r.cases.size(), r.passed(), r.failed());
  if (r.errors()) s += fmt::format(", {} errors", r.errors());
  if (r.unsupported()) s += fmt::format(", {} unsupported", r.unsupported());
  if (r.incomplete) s += fmt::format(", INCOMPLETE: interrupted, {} cases not run", r.not_run);
  s += fmt::format(" ({:.2f} s)", seconds);
  return paint(color, ok ? "32" : "1;31", s) + "\n";
}

}  // namespace attn
