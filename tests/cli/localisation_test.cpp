// Port bugs attn-diff has no model of (the stand-in candidate's bug:<name> modes,
// tests/helpers/candidate_main.cpp) judged through `run --candidate-cmd` on tests/data/localisation.json
// (2 batch elements, 8 heads over 2 kv heads, 16x16 tiles, causal with a 24-key window, fp32): each
// fails, is reported as unexplained by every format, and every report says where its error is, in
// words that follow from how the bug was built.
// A correct candidate gets no localisation at all.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli_helpers.hpp"

using attn::test::read_json;
using attn::test::read_text;
using attn::test::run_cli;
using attn::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const std::string kConfig = "tests/data/localisation.json";

std::string candidate_cmd(const std::string& mode) {
  return "--candidate-cmd \"'" + std::string(ATTN_DIFF_CANDIDATE) + "' " + mode + " {inputs} {out}\"";
}

using Ranges = std::vector<std::vector<std::int64_t>>;

struct OwnBug {
  std::string bug, case_name;
  std::vector<std::string> words;  // in the summary or a check line, in every format but Markdown
  std::string md;                  // a fragment without Markdown punctuation (which is escaped there)
  std::string axis;                // a JSON finding whose ranges are known by construction
  Ranges ranges;
  std::string check;               // a structural check that must hold ("" = none asserted)
};

// Why each expectation holds, from the bug's construction (tiles 16, window 24, H 8 / Hkv 2, D 32):
const std::vector<OwnBug> kBugs = {
    // K of kv head 1 reversed within each KV tile: heads 4–7; query token 0 sees one key, whose
    // output is its V row whatever K says, so it stays right.
    {"k_group_reversed", "gqa_window", {"error confined to heads 4–7 (kv head 1 of 2), query tokens 1–63 (of 64)",
                                        "rows whose window holds one key (query token 0) are within precision"},
     "heads 4–7", "head", {{4, 7}}, "one_key_rows"},
    // The window's lower end from the tile's first query: row i of the tile starting at i0 is wrong
    // when i0 - 23 < i - 23 and i - 23 > 0, i.e. 24–31, 33–47, 49–63.
    {"window_tile_start", "gqa_window", {"error confined to query tokens 24–31, 33–47, 49–63 (of 64); all batch elements, all heads"},
     "query tokens 24–31, 33–47, 49–63", "query_token", {{24, 31}, {33, 47}, {49, 63}}, ""},
    // Batch 1 reads batch 0's K.
    {"batch_k_stride", "gqa_window", {"error confined to batch 1 (of 2)"}, "batch 1", "batch", {{1, 1}}, ""},
    // bf16 denominator in head 5: the output row is golden times l / bf16(l).
    {"denominator_bf16_head", "gqa_window", {"error confined to head 5 (in kv head 1 of 2, whose query heads are 4–7)",
                                             "the candidate is golden times one constant per row"},
     "head 5", "head", {{5, 5}}, "row_scale"},
    // Columns 16–31 of V read from columns 0–15.
    {"v_upper_half", "gqa_window", {"error confined to head-dim columns 16–31 (of 32); all batch elements, all heads, all query tokens"},
     "head-dim columns 16–31", "column", {{16, 31}}, ""},
    // The last query tile writes the previous tile's rows; with causal + window 24 exactly rows 48–63
    // read KV tile 3, so both are said.
    {"stale_last_tile", "gqa_window", {"error confined to query tile 3 of 4 (query tokens 48–63)",
                                       "the rows out of precision are exactly the rows that read KV tile 3 of 4 (keys 48–63)"},
     "query tile 3 of 4", "query_tile", {{3, 3}}, ""},
    // V of KV tile 0 read as zeros: wrong exactly on the rows that see a key < 16, i.e. i - 23 <= 15.
    {"first_kv_tile_v_zero", "gqa_window", {"error confined to query tokens 0–38 (of 64)",
                                            "the rows out of precision are exactly the rows that read KV tile 0 of 4 (keys 0–15)"},
     "KV tile 0 of 4", "kv_tile", {{0, 0}}, ""},
    // Column 3 of the output times 0.5.
    {"column_scaled", "gqa_window", {"error confined to head-dim column 3 (of 32)",
                                     "in head-dim column 3 the candidate is golden times one constant per column (0.5)"},
     "head-dim column 3", "column", {{3, 3}}, "column_scale"},
    // V shifted by one key, and the sink scaled by 1/sqrt(D): every element, so "spread" and nothing more.
    {"v_shift", "gqa_window", {"error spread over all batch elements, heads, query tokens and head-dim columns"},
     "error spread over all batch elements, heads, query tokens and head-dim columns", "", {}, ""},
    {"sink_scaled", "gqa_window_sinks", {"error spread over all batch elements, heads, query tokens and head-dim columns"},
     "error spread over all batch elements, heads, query tokens and head-dim columns", "", {}, ""},
};

}  // namespace

TEST_CASE("localisation cli: own port bugs fail, are unexplained, and every report says where the error is", "[localisation][cli]") {
  TempDir dir("localisation_own_bugs");
  for (const OwnBug& b : kBugs) {
    INFO("bug:" << b.bug << " on " << b.case_name);
    const std::string j = dir.file(b.bug + ".json"), md = dir.file(b.bug + ".md"), xml = dir.file(b.bug + ".xml"),
                      html = dir.file(b.bug + ".html");
    const auto r = run_cli("run -c " + kConfig + " --case " + b.case_name + " " + candidate_cmd("bug:" + b.bug) +
                           " --json " + j + " --md " + md + " --junit " + xml + " --html " + html);
    INFO(r.out);
    REQUIRE(r.code == 1);
    const std::string junit = read_text(xml), page = read_text(html);
    CHECK_THAT(r.out, Contains(b.case_name + ": where: " + b.words[0].substr(0, 20)));
    for (const std::string& w : b.words) {
      CHECK_THAT(r.out, Contains(w));
      CHECK_THAT(junit, Contains(w));
      CHECK_THAT(page, Contains(w));
    }
    // No built-in hypothesis models these bugs: every format says so (h-diag's one verdict).
    const std::string unexplained = "no built-in hypothesis explains this";
    CHECK_THAT(r.out, Contains(unexplained));
    CHECK_THAT(read_text(md), Contains(unexplained));
    CHECK_THAT(junit, Contains(unexplained));
    CHECK_THAT(page, Contains(unexplained));
    CHECK_THAT(read_text(md), Contains("Where the error is:"));
    CHECK_THAT(read_text(md), Contains(b.md));
    CHECK_THAT(junit, Contains("where: "));

    const json report = read_json(j);
    REQUIRE(report.at("cases").size() == 1);
    const json& c = report.at("cases")[0];
    CHECK(c.at("verdict") == "fail");
    CHECK(c.at("diagnosis").at("verdict") == "unexplained");
    REQUIRE(c.contains("localisation"));
    const json& l = c.at("localisation");
    CHECK(l.at("located") == true);
    std::string all_text = l.at("summary").get<std::string>();
    for (const json& k : l.at("checks")) all_text += "\n" + k.at("text").get<std::string>();
    for (const std::string& w : b.words) CHECK_THAT(all_text, Contains(w));
    if (b.axis.empty()) {  // spread: nothing else is claimed
      CHECK(l.at("spread") == true);
      CHECK(l.at("checks").empty());
      CHECK(l.at("summary") == b.words[0]);
    } else {
      CHECK(l.at("spread") == false);
      bool found = false;
      for (const json& f : l.at("findings"))
        if (f.at("axis") == b.axis) {
          found = true;
          CHECK(f.at("ranges").get<Ranges>() == b.ranges);
        }
      CHECK(found);
    }
    if (!b.check.empty()) {
      bool held = false;
      for (const json& k : l.at("checks")) held = held || k.at("name") == b.check;
      CHECK(held);
    }
  }
}

TEST_CASE("localisation cli: a correct candidate gets no localisation claim", "[localisation][cli]") {
  TempDir dir("localisation_correct");
  for (const std::string mode : {"correct", "bug:none"}) {
    INFO(mode);
    const std::string j = dir.file("r.json"), md = dir.file("r.md"), xml = dir.file("r.xml"), html = dir.file("r.html");
    const auto r = run_cli("run -c " + kConfig + " " + candidate_cmd(mode) + " --json " + j + " --md " + md + " --junit " + xml +
                           " --html " + html);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, !Contains("where:"));
    for (const json& c : read_json(j).at("cases")) CHECK_FALSE(c.contains("localisation"));
    CHECK_THAT(read_text(md), !Contains("Where the error is"));
    CHECK_THAT(read_text(xml), !Contains("where:"));
    CHECK_THAT(read_text(html), !Contains("Where the error is"));
  }
}

TEST_CASE("localisation cli: compare and diagnose say where the error is", "[localisation][cli]") {
  TempDir dir("localisation_compare");
  const std::string d = (dir.path / "case").string(), out = dir.file("out.npy"), j = dir.file("d.json");
  REQUIRE(run_cli("dump -c " + kConfig + " --case gqa_window --out " + d).code == 0);
  REQUIRE(attn::test::run_stand_in("bug:k_group_reversed " + d + " " + out) == 0);
  const std::string where = "error confined to heads 4–7 (kv head 1 of 2)";
  const auto c = run_cli("compare -i " + d + " --candidate " + out + " --json " + j);
  INFO(c.out);
  CHECK(c.code == 1);
  CHECK_THAT(c.out, Contains("gqa_window: where: " + where));
  CHECK_THAT(read_json(j).at("cases")[0].at("localisation").at("summary").get<std::string>(), Contains(where));
  const auto g = run_cli("diagnose -i " + d + " --candidate " + out + " --json " + j);
  INFO(g.out);
  CHECK(g.code == 0);
  CHECK_THAT(g.out, Contains("where: " + where));
  CHECK_THAT(c.out, Contains("no built-in hypothesis explains this"));
  CHECK_THAT(g.out, Contains("no built-in hypothesis explains this"));
  CHECK_THAT(read_json(j).at("localisation").at("summary").get<std::string>(), Contains(where));
}
