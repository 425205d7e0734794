// Where a failing candidate's error is, in words (issue 14): which batch elements, heads and kv
// groups, query tokens and query tiles, KV tiles and head-dim columns carry error beyond what a
// correct implementation makes, plus the structural checks a human would try next. For a bug
// attn-diff has no model of, this is the diagnosis. Data only; every report writer renders it.
//
// The precision envelope is per slice: a slice (one batch element, one head, one query token, one
// head-dim column, ...) carries error when its largest |c - golden| exceeds
//   max(k_naive · max over the slice of |naive - golden|, k_tiled · max over the slice of |tiled - golden|) + floor
// with k and the floor of the max_abs_vs_naive / max_abs_vs_expected gates. Maxima over a slice of
// many elements are far less noisy than per-element errors, and a slice's own yardsticks follow its
// magnitude (a head with larger outputs has larger rounding error). Every statement made is a
// statement about such slices; nothing is inferred beyond them (see docs/localisation.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/suite/config.hpp"

namespace attn {

/// Inclusive range of slice indices.
struct SliceRange {
  std::int64_t lo = 0, hi = 0;
};

/// One axis: which of its `of` slices carry error beyond the envelope.
struct LocalisationFinding {
  std::string axis;  // "batch", "head", "kv_head", "query_token", "query_tile", "kv_tile", "column"
  std::int64_t of = 0;
  std::vector<SliceRange> ranges;  // the slices out of precision, ascending
  bool all = false;                // every slice of the axis is out of precision
  std::string text;                // e.g. "heads 4–7 (kv head 1 of 2)"
};

/// A structural check that held (only those are kept): its name and what it says.
struct StructuralCheck {
  std::string name;  // "one_key_rows", "grows_with_keys", "shrinks_with_keys", "row_scale", "column_scale"
  std::string text;
};

struct Localisation {
  bool located = false;  // some slice is out of precision
  bool spread = false;   // every slice of every axis is
  std::string summary;   // one line
  std::vector<LocalisationFinding> findings;
  std::vector<StructuralCheck> checks;
  double k_naive = 0.0, k_tiled = 0.0, floor = 0.0;  // the envelope's parameters
  // The largest ratio of a slice's error to its envelope (over batch, head, token and column
  // slices; +inf for a non-finite candidate value). Below kMarginal the summary says the failure is
  // marginal: then the slices out of precision are a weak hint, not a place.
  double worst_ratio = 0.0;
};

inline constexpr double kMarginal = 2.0;

/// What the localiser reads: all [B][Sq][H][D]. `tiled` may be empty (then only naive bounds).
struct LocalisationInput {
  const CaseSpec& spec;
  std::span<const double> candidate, golden, naive, tiled;
  double k_naive = 2.0, k_tiled = 2.0, floor = 0.0;
};

Localisation localise(const LocalisationInput& in);

/// The envelope parameters the case's gates use: k of max_abs_vs_naive and max_abs_vs_expected
/// (the recipe's defaults when the case has no such gate) and their floor (an explicit eps, else
/// one output ulp at max|golden| plus `probs_rounding`).
void localisation_envelope(const CaseSpec& c, double golden_max_abs_value, double probs_rounding, double* k_naive,
                           double* k_tiled, double* floor);

/// {"summary", "located", "spread", "envelope": {...}, "findings": [...], "checks": [...]}.
nlohmann::json localisation_to_json(const Localisation& l);

/// What every report prints: the summary, then one line per structural check that held.
std::vector<std::string> localisation_lines(const Localisation& l);
/// The same from the report's JSON `localisation` object (the writers that render JSON); none
/// when the object is absent or malformed.
std::vector<std::string> localisation_lines(const nlohmann::json& case_json);

/// "a–b" joined by ", " (a single index as "a"), at most `max_ranges` shown, the rest as "…".
std::string format_ranges(const std::vector<SliceRange>& r, std::size_t max_ranges = 6);

}  // namespace attn
