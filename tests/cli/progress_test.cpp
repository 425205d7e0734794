// The progress line's text, and that a disabled display (--quiet, or stderr not a terminal) stays silent.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "src/cli/progress.hpp"

using attn::Progress;

TEST_CASE("progress: cases done, the current case, and time left from the pace so far", "[progress]") {
  CHECK(Progress::line(3, 8, "causal", 6.0) == "[3/8] causal  6.0 s, about 10 s left");
  CHECK(Progress::line(0, 8, "basic", 1.2) == "[0/8] basic  1.2 s, time left unknown");
  CHECK(Progress::line(7, 8, "last", 14.0) == "[7/8] last  14.0 s, about 2 s left");
}

TEST_CASE("progress: off with --quiet and when stderr is not a terminal", "[progress]") {
  CHECK_FALSE(attn::progress_wanted(true));
  CHECK(attn::progress_wanted(false) == (::isatty(STDERR_FILENO) == 1));
  Progress p(4, false);  // a disabled display starts no thread and draws nothing
  p.start_case(1, "x");
}
