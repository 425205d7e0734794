// Reading a JSON report v1 (src/report/report.hpp, SPEC §8) back from a file: `merge` joins such reports
// and renders them with every writer, so a report from outside is checked field by field, to the
// types and ranges the writers rely on, before anything is rendered or written. A mistyped field
// is refused with its JSON path (`cases[3].failures[0]: error: expected a string`), never an
// exception out of a writer halfway through the files.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace attn {

/// The verdicts a report may hold: pass, fail, error, unsupported.
bool known_verdict(std::string_view verdict);

/// Parses and checks the text of one JSON report v1 (`file` names it in messages). False with
/// "FILE: error: PATH: ..." and a note when it is not JSON, nests too deep, is another schema, or a
/// field the writers read has the wrong type or range, a verdict is unknown, a case name repeats,
/// or the summary's counts disagree with the cases.
bool parse_report(std::string_view text, const std::string& file, nlohmann::json* out, std::string* err);

/// parse_report on the content of the file at `path`; an unreadable file is refused too.
bool read_report_file(const std::string& path, nlohmann::json* out, std::string* err);

}  // namespace attn
