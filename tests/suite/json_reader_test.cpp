// The strict reader of suite-file objects (src/suite/json_reader.hpp) on its own: unknown keys
// with did-you-mean, integers checked exactly at their bounds, wrong types named, absent keys
// silent. The messages through the CLI are pinned by tests/bad_inputs.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "src/suite/json_reader.hpp"

using namespace attn;
using nlohmann::json;

namespace {

struct Fixture {
  Diagnostics diags;
  JsonReader rd{"suite.json", "case 'c'", &diags};
};

}  // namespace

TEST_CASE("json reader: an unknown key names the nearest known one, with the prefix", "[json_reader]") {
  Fixture f;
  f.rd.check_keys(json{{"q", 1}, {"kvv", 2}}, {"q", "kv"}, "tiles.");
  REQUIRE(f.diags.size() == 1);
  CHECK(f.diags[0].file == "suite.json");
  CHECK(f.diags[0].where == "case 'c'");
  CHECK(f.diags[0].message == "unknown key 'tiles.kvv' (did you mean 'tiles.kv'?)");
  CHECK(f.diags[0].note == "known keys: q, kv");
  CHECK_FALSE(f.rd.ok());
}

TEST_CASE("json reader: a key far from every known one gets no suggestion", "[json_reader]") {
  Fixture f;
  f.rd.check_keys(json{{"zzzzzzzz", 1}}, {"tokens", "heads"}, "");
  REQUIRE(f.diags.size() == 1);
  CHECK(f.diags[0].message == "unknown key 'zzzzzzzz'");
  CHECK(f.diags[0].note == "known keys: tokens, heads");
}

TEST_CASE("json reader: known keys and absent keys are no error", "[json_reader]") {
  Fixture f;
  f.rd.check_keys(json{{"tokens", 1}}, {"tokens", "heads"}, "");
  const json obj = json::object();
  CHECK_FALSE(f.rd.integer(obj, "tokens", 1));
  CHECK_FALSE(f.rd.number(obj, "scale"));
  CHECK_FALSE(f.rd.boolean(obj, "causal"));
  CHECK(f.rd.object(obj, "tiles") == nullptr);
  CHECK(f.diags.empty());
  CHECK(f.rd.ok());
}

TEST_CASE("json reader: integers, whole floats among them, are checked against both bounds", "[json_reader]") {
  Fixture f;
  CHECK(f.rd.integer(json{{"k", 7}}, "k", 1) == 7);
  CHECK(f.rd.integer(json{{"k", 3.0}}, "k", 1) == 3);
  CHECK(f.rd.integer(json{{"k", kMaxInteger}}, "k", 1) == kMaxInteger);
  CHECK(f.rd.integer(json{{"k", -5}}, "k", -10) == -5);
  CHECK(f.diags.empty());

  CHECK_FALSE(f.rd.integer(json{{"k", 2.5}}, "k", 1));
  CHECK_FALSE(f.rd.integer(json{{"k", "8"}}, "k", 1, "tiles.k"));
  CHECK_FALSE(f.rd.integer(json{{"k", 0}}, "k", 1));
  CHECK_FALSE(f.rd.integer(json{{"k", kMaxInteger + 1}}, "k", 1));
  CHECK_FALSE(f.rd.integer(json{{"k", std::numeric_limits<std::uint64_t>::max()}}, "k", 1));
  CHECK_FALSE(f.rd.integer(json{{"k", -1e300}}, "k", 1));
  CHECK_FALSE(f.rd.integer(json{{"k", 11}}, "k", 0, "", 10));
  REQUIRE(f.diags.size() == 7);
  CHECK(f.diags[0].message == "key 'k' must be an integer, got a number (2.5)");
  CHECK(f.diags[1].message == "key 'tiles.k' must be an integer, got a string (\"8\")");
  CHECK(f.diags[2].message == "key 'k' must be at least 1, got 0");
  CHECK(f.diags[3].message == "key 'k' is too large (9000000000000001; at most 9000000000000000)");
  CHECK(f.diags[4].message == "key 'k' is too large (18446744073709551615; at most 9000000000000000)");
  CHECK(f.diags[5].message == "key 'k' must be at least 1, got -1e+300");
  CHECK(f.diags[6].message == "key 'k' is too large (11; at most 10)");
}

TEST_CASE("json reader: numbers, booleans and objects name the type they got", "[json_reader]") {
  Fixture f;
  CHECK(f.rd.number(json{{"x", 1}}, "x") == 1.0);
  CHECK(f.rd.nonneg(json{{"x", 0.0}}, "x") == 0.0);
  CHECK(f.rd.boolean(json{{"b", false}}, "b") == false);
  CHECK(f.diags.empty());

  CHECK_FALSE(f.rd.number(json{{"x", true}}, "x"));
  CHECK_FALSE(f.rd.nonneg(json{{"x", -0.5}}, "x", "tolerance.atol"));
  CHECK_FALSE(f.rd.boolean(json{{"b", 1}}, "b"));
  CHECK(f.rd.object(json{{"o", json::array({1})}}, "o") == nullptr);
  REQUIRE(f.diags.size() == 4);
  CHECK(f.diags[0].message == "key 'x' must be a number, got a boolean (true)");
  CHECK(f.diags[1].message == "key 'tolerance.atol' must be a finite number >= 0, got -0.5");
  CHECK(f.diags[2].message == "key 'b' must be true or false, got an integer (1)");
  CHECK(f.diags[3].message == "key 'o' must be an object, got a list ([1])");
}
