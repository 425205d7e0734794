// The worker protocol's parsers (src/judge/worker.hpp, SPEC §13): what is a reply to request N and
// what is a handshake, and what is refused with which words.
#include <catch2/catch.hpp>

#include "src/judge/worker.hpp"

using namespace attn;
using Catch::Matchers::Contains;

TEST_CASE("worker reply: ok, error and unsupported, extra fields allowed", "[worker]") {
  WorkerReply r;
  std::string problem;
  REQUIRE(parse_worker_reply(R"({"id": 7, "ok": true, "ms": 1.5, "note": {"x": 1}})", 7, &r, &problem));
  CHECK(r.kind == WorkerReply::Kind::ok);
  REQUIRE(parse_worker_reply(R"({"ok": false, "id": 7, "error": "OOM"})", 7, &r, &problem));
  CHECK(r.kind == WorkerReply::Kind::error);
  CHECK(r.message == "OOM");
  REQUIRE(parse_worker_reply(R"({"id": 7, "ok": false, "unsupported": "no sinks"})", 7, &r, &problem));
  CHECK(r.kind == WorkerReply::Kind::unsupported);
  CHECK(r.message == "no sinks");
  REQUIRE(parse_worker_reply(R"({"id": 7, "ok": false})", 7, &r, &problem));
  CHECK(r.kind == WorkerReply::Kind::error);
  CHECK_THAT(r.message, Contains("no \"error\" message"));
  // The worker's text reaches the terminal and the reports: made printable.
  REQUIRE(parse_worker_reply("{\"id\": 7, \"ok\": false, \"error\": \"red \\u001b[31m\"}", 7, &r, &problem));
  CHECK(r.message == "red \\x1B[31m");
}

TEST_CASE("worker reply: garbage, a non-object, a wrong or missing id and no ok are refused", "[worker]") {
  const auto refused = [](const std::string& line) {
    WorkerReply r;
    std::string problem;
    CHECK_FALSE(parse_worker_reply(line, 3, &r, &problem));
    return problem;
  };
  CHECK_THAT(refused("Loading weights..."), Contains("it is not JSON"));
  CHECK_THAT(refused(""), Contains("it is not JSON"));
  CHECK_THAT(refused(R"({"id": 3, "ok": true)"), Contains("it is not JSON"));
  CHECK(refused(R"([{"id": 3, "ok": true}])") == "it is JSON but not an object (a array)");
  CHECK(refused("3") == "it is JSON but not an object (a number)");
  CHECK(refused(R"({"ok": true})") == "it has no \"id\"");
  CHECK(refused(R"({"id": 4, "ok": true})") == "its \"id\" is 4, not 3");
  CHECK(refused(R"({"id": "3", "ok": true})") == "its \"id\" is \"3\", not 3");
  CHECK(refused(R"({"id": 3.5, "ok": true})") == "its \"id\" is 3.5, not 3");
  CHECK(refused(R"({"id": 3})") == "it has no boolean \"ok\"");
  CHECK(refused(R"({"id": 3, "ok": "yes"})") == "it has no boolean \"ok\"");
  CHECK_THAT(refused(R"({"id": 3, "id": 3, "ok": true})"), Contains("it is refused JSON (duplicate key 'id'"));  // strict JSON
}

TEST_CASE("worker handshake: protocol, name, supports", "[worker]") {
  WorkerHello h;
  std::string problem;
  REQUIRE(parse_worker_hello(R"({"protocol": "attn-diff.worker.v1", "name": "nki-flash", "pid": 12,
                                 "supports": {"backward": true, "paged": false, "layouts": ["bhsd", "bshd"], "future": 3}})",
                             &h, &problem));
  CHECK(h.name == "nki-flash");
  CHECK(h.features == std::vector<std::string>{"backward"});
  REQUIRE(h.layouts);
  CHECK(*h.layouts == std::vector<std::string>{"bhsd", "bshd"});
  WorkerHello plain;
  REQUIRE(parse_worker_hello(R"({"protocol": "attn-diff.worker.v1", "name": "k"})", &plain, &problem));
  CHECK_FALSE(plain.layouts);
  CHECK(plain.features.empty());

  const auto refused = [](const std::string& line, WorkerHello* out = nullptr) {
    WorkerHello tmp;
    std::string problem;
    CHECK_FALSE(parse_worker_hello(line, out ? out : &tmp, &problem));
    return problem;
  };
  WorkerHello v2;
  CHECK(refused(R"({"protocol": "attn-diff.worker.v2", "name": "k"})", &v2) ==
        "it speaks protocol 'attn-diff.worker.v2', not 'attn-diff.worker.v1'");
  CHECK(v2.protocol == "attn-diff.worker.v2");  // the caller tells a version mismatch apart
  CHECK(refused(R"({"name": "k"})") == "it has no \"protocol\" string");
  CHECK(refused(R"({"protocol": "attn-diff.worker.v1"})") == "it has no \"name\" string");
  CHECK(refused(R"({"protocol": "attn-diff.worker.v1", "name": "k", "supports": []})") ==
        "\"supports\" is a array, not an object");
  CHECK(refused(R"({"protocol": "attn-diff.worker.v1", "name": "k", "supports": {"layouts": "bshd"}})") ==
        "\"supports.layouts\" is not a list of layout names");
  CHECK_THAT(refused("ready"), Contains("it is not JSON"));
}

TEST_CASE("worker: a supports.layouts list without the --layout makes a case unsupported", "[worker]") {
  CaseSpec c;
  c.name = "x";
  WorkerHello h{.protocol = kWorkerProtocol, .name = "k"};
  CHECK(worker_unsupported_reason(h, c, Layout::bshd).empty());  // no list: every layout
  h.layouts = std::vector<std::string>{"bhsd", "bs_hd"};
  CHECK(worker_unsupported_reason(h, c, Layout::bhsd).empty());
  CHECK(worker_unsupported_reason(h, c, *layout_from_name("bs(hd)")).empty());  // an alias of the same layout
  CHECK(worker_unsupported_reason(h, c, Layout::bshd) ==
        "the worker 'k' writes the layouts [bhsd, bs_hd] (supports.layouts), not --layout bshd");
  CHECK(worker_features_needed(c).empty());  // no shipped case needs backward, paged or ragged yet
  CHECK(worker_command_problem(" \t").starts_with("--candidate-worker is empty"));
  CHECK(worker_command_problem("python3 w.py").empty());
}
