#include "src/judge/worker.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "src/base/diagnostic.hpp"
#include "src/base/interrupt.hpp"
#include "src/base/json_strict.hpp"
#include "src/io/dumpdir.hpp"
#include "src/io/worker_process.hpp"
#include "src/judge/external.hpp"

namespace attn {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = WorkerProcess::Clock;

constexpr std::size_t kTailLines = 20;
constexpr std::size_t kQuoteBytes = 200;  // of a line that is not a reply, quoted in the message

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(std::min(seconds, kMaxTimeoutSeconds)));
}
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string quote_line(const std::string& line) {
  const std::string_view cut = utf8_prefix(line, kQuoteBytes);
  return fmt::format("'{}{}'", printable(cut), cut.size() < line.size() ? "..." : "");
}

std::string with_lines(std::string message, const std::vector<std::string>& lines) {
  if (lines.empty()) return message + " (nothing on its stderr)";
  message += "; its last stderr lines:";
  for (const std::string& l : lines) message += "\n    | " + l;
  return message;
}

std::optional<json> parse_object(const std::string& line, std::string* problem) {
  JsonError e;
  std::optional<json> j = parse_json_strict(line, &e);
  if (!j) {
    *problem = (e.malformed ? "it is not JSON (" : "it is refused JSON (") + e.what() + ")";
    return std::nullopt;
  }
  if (!j->is_object()) {
    *problem = fmt::format("it is JSON but not an object (a {})", j->type_name());
    return std::nullopt;
  }
  return j;
}

// What one Candidate (and its copies) owns: the worker process and what the run learnt of it.
struct WorkerState {
  WorkerOptions opt;
  std::mutex mu;  // one request at a time: a worker serves one case after another
  WorkerProcess proc;
  bool ready = false;  // the running process answered the handshake
  WorkerHello hello;
  int starts = 0;
  int failed_starts_in_a_row = 0;
  std::string gave_up;  // set once attn-diff gives up on the worker: why, for every later case
  std::int64_t next_id = 1;

  std::mutex last_mu;  // Candidate::last_run may be read from another thread
  std::optional<CandidateRun> last;

  explicit WorkerState(WorkerOptions o) : opt(std::move(o)) {}
  ~WorkerState() {
    // After a stop signal the run is ending at once: no grace for a worker that does not exit.
    if (interrupted()) proc.kill();
    else if (proc.running()) proc.shutdown(R"({"op": "shutdown"})", opt.shutdown_grace_s, 1.0);
  }

  void set_last(CandidateRun run) {
    const std::lock_guard lock(last_mu);
    last = std::move(run);
  }

  // Kills the worker after a broken request; the next case starts a new one.
  void drop() {
    proc.kill();
    ready = false;
  }

  // Why the worker cannot serve a case ("" when it is up and has answered the handshake). Starts
  // (or restarts) it when it is not running. Throws Interrupted on a stop signal, the worker killed.
  std::string ensure_started() {
    if (!gave_up.empty()) return "not sent to the worker: " + gave_up;
    if (ready && proc.running()) return "";
    if (starts > opt.max_restarts) {
      gave_up = fmt::format("attn-diff gave up on it after {} restarts in this run (the bound)", opt.max_restarts);
      return "not sent to the worker: " + gave_up;
    }
    ++starts;
    std::string why = handshake();
    if (why.empty()) {
      failed_starts_in_a_row = 0;
      return "";
    }
    drop();
    if (gave_up.empty() && ++failed_starts_in_a_row >= 2)
      gave_up = "it failed to start twice in a row";
    if (!gave_up.empty()) why += "\n    note: attn-diff gives up on the worker: every later case is an error without starting it again";
    return why;
  }

  std::string handshake() {
    std::string err;
    if (!proc.start(opt.command, {{"ATTN_DIFF_PROTOCOL", kWorkerProtocol}}, &err))
      return "the worker could not be started: " + err;
    const auto deadline = after(opt.timeout_s);
    const std::size_t mark = proc.stderr_mark();
    if (!proc.write_line(json{{"protocol", kWorkerProtocol}}.dump(), deadline)) {
      const std::string how = proc.describe_end();
      drop();
      if (interrupted()) throw Interrupted();
      return with_lines("the worker " + how + " before the handshake", proc.stderr_lines(mark, kTailLines));
    }
    std::string line;
    switch (proc.read_line(deadline, &line)) {
      case WorkerProcess::Got::line: break;
      case WorkerProcess::Got::interrupted:
        drop();
        throw Interrupted();
      case WorkerProcess::Got::timeout:
        drop();
        return with_lines(fmt::format("the worker did not answer the handshake within {} s and was killed with its "
                                      "process group", opt.timeout_s),
                          proc.stderr_lines(mark, kTailLines));
      case WorkerProcess::Got::too_long:
        drop();
        return with_lines(fmt::format("the worker's handshake reply is longer than {} bytes", WorkerProcess::kMaxLineBytes),
                          proc.stderr_lines(mark, kTailLines));
      case WorkerProcess::Got::ended: {
        const std::string how = proc.describe_end();
        drop();
        return with_lines("the worker " + how + " before answering the handshake", proc.stderr_lines(mark, kTailLines));
      }
    }
    WorkerHello h;
    std::string problem;
    if (!parse_worker_hello(line, &h, &problem)) {
      const std::vector<std::string> lines = proc.stderr_lines(mark, kTailLines);
      drop();
      if (!h.protocol.empty() && h.protocol != kWorkerProtocol) {
        // Restarting it would give the same answer.
        gave_up = fmt::format("it speaks protocol '{}', attn-diff speaks '{}'", printable(h.protocol), kWorkerProtocol);
        return fmt::format("the worker speaks protocol '{}', attn-diff speaks '{}'", printable(h.protocol),
                           kWorkerProtocol);
      }
      return with_lines("the worker's handshake reply " + quote_line(line) + " is unusable: " + problem, lines);
    }
    hello = std::move(h);
    ready = true;
    return "";
  }

  bool produce(PreparedCase& p, std::vector<double>* out, std::string* err);
  BackwardTensors tensors;  // the last output file's tensors beside "out" (SPEC §10)
};

bool WorkerState::produce(PreparedCase& p, std::vector<double>* out, std::string* err) {
  const std::lock_guard lock(mu);
  {
    const std::lock_guard l(last_mu);
    last.reset();
  }
  const CaseSpec& spec = p.spec;
  tensors = {};
  if (std::string problem = worker_command_problem(opt.command); !problem.empty()) {
    *err = std::move(problem);
    return false;
  }
  throw_if_interrupted();  // no new case, and no temporary directory, once asked to stop
  if (std::string why = ensure_started(); !why.empty()) {
    *err = std::move(why);
    return false;
  }
  if (std::string why = worker_unsupported_reason(hello, spec, opt.read.layout); !why.empty()) {
    set_last({.worker = hello.name, .unsupported = why});
    *err = why;
    return false;
  }

  const CleanupPending tidy_first;  // a second Ctrl-C must not kill us while the directory exists
  const auto start = Clock::now();
  const auto deadline = after(opt.timeout_s);
  std::string pattern = (fs::temp_directory_path() / "attn-diff-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    *err = fmt::format("cannot create a temporary directory ({})", std::strerror(errno));
    return false;
  }
  const fs::path tmp(pattern);
  const std::string inputs = (tmp / "inputs").string(),
                    out_path = (tmp / (spec.backward ? "out.safetensors" : "out.npy")).string();
  const std::size_t mark = proc.stderr_mark();
  const std::int64_t id = next_id++;
  auto record = [&](std::string unsupported = "") {
    set_last({.seconds = since(start), .output = proc.stderr_lines(mark, kTailLines), .worker = hello.name,
              .unsupported = std::move(unsupported)});
  };
  auto finish = [&](bool ok) {
    std::error_code ec;
    if (!opt.keep_temp) fs::remove_all(tmp, ec);
    else if (ok || interrupted()) {
      if (opt.on_kept) opt.on_kept(spec.name, tmp.string());
    } else {
      *err += fmt::format("\n    note: kept {}", tmp.string());
    }
    if (interrupted()) throw Interrupted();  // the run reports the cases before this one
    return ok;
  };
  // The request broke the worker: the case is an error naming what happened, and the worker is
  // killed with its group (restarted for the next case).
  auto broken = [&](const std::string& what, const std::string& note = "") {
    record();
    const std::vector<std::string> lines = proc.stderr_lines(mark, kTailLines);
    drop();
    *err = with_lines(what, lines) + (note.empty() ? "" : "\n    note: " + note);
    return finish(false);
  };

  // The correct tiled kernel's output goes into the dump; judge() needs it anyway (cached).
  if (!write_dump({.dir = inputs, .format = DumpFormat::npy}, spec, p.inputs, dump_outputs(p, opt.threads), err))
    return finish(false);
  if (interrupted()) {
    drop();
    return finish(false);
  }
  // In the order SPEC §13 writes them, for a person reading a log of the session.
  const nlohmann::ordered_json request = {{"id", id}, {"case", spec.name}, {"inputs", inputs}, {"out", out_path},
                                          {"layout", std::string(layout_name(opt.read.layout))}};
  if (!proc.write_line(request.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), deadline)) {
    if (interrupted()) {
      drop();
      return finish(false);
    }
    if (Clock::now() >= deadline)
      return broken(fmt::format("the worker did not read request {} within {} s and was killed with its process group",
                                id, opt.timeout_s));
    return broken(fmt::format("the worker {} before request {} could be sent", proc.describe_end(), id));
  }
  std::string line;
  const WorkerProcess::Got got = proc.read_line(deadline, &line);
  switch (got) {
    case WorkerProcess::Got::line: break;
    case WorkerProcess::Got::interrupted:
      record();
      drop();
      return finish(false);
    case WorkerProcess::Got::timeout:
      return broken(fmt::format("the worker did not answer request {} within {} s and was killed with its process group",
                                id, opt.timeout_s));
    case WorkerProcess::Got::too_long:
      return broken(fmt::format("the worker's reply to request {} is longer than {} bytes: not a reply", id,
                                WorkerProcess::kMaxLineBytes));
    case WorkerProcess::Got::ended:
      return broken(fmt::format("the worker {} while serving request {}", proc.describe_end(), id));
  }
  WorkerReply reply;
  std::string problem;
  if (!parse_worker_reply(line, id, &reply, &problem))
    return broken(fmt::format("the worker's reply to request {}, {}, is not a reply: {}", id, quote_line(line), problem),
                  "a worker prints only replies on its stdout; its logs go to stderr");
  if (reply.kind == WorkerReply::Kind::unsupported) {
    const std::string why = reply.message.empty() ? "the worker declined the case" : reply.message;
    record(why);
    *err = why;
    return finish(false);
  }
  record();
  if (reply.kind == WorkerReply::Kind::error) {
    *err = with_lines("the worker reported an error: " + reply.message, proc.stderr_lines(mark, kTailLines));
    return finish(false);
  }
  std::error_code ec;
  if (!fs::exists(out_path, ec)) {
    *err = with_lines(fmt::format("the worker replied ok to request {} but wrote nothing to {}", id, out_path),
                      proc.stderr_lines(mark, kTailLines));
    return finish(false);
  }
  std::string read_err;
  if (!read_candidate_file(out_path, spec, opt.read, out, &tensors, &read_err)) {
    *err = "the worker's output is unusable: " + read_err;
    return finish(false);
  }
  if (Clock::now() >= deadline) {
    *err = fmt::format("the worker's case took longer than {} s (writing the dump, the request, reading the output)",
                       opt.timeout_s);
    return finish(false);
  }
  return finish(true);
}

}  // namespace

std::string worker_command_problem(const std::string& command) {
  return blank_command_problem(command, "--candidate-worker", "starts once", "python3 my_worker.py");
}

bool parse_worker_hello(const std::string& line, WorkerHello* out, std::string* problem) {
  const std::optional<json> j = parse_object(line, problem);
  if (!j) return false;
  const auto protocol = j->find("protocol");
  if (protocol == j->end() || !protocol->is_string()) {
    *problem = "it has no \"protocol\" string";
    return false;
  }
  out->protocol = protocol->get<std::string>();
  if (out->protocol != kWorkerProtocol) {
    *problem = fmt::format("it speaks protocol '{}', not '{}'", printable(out->protocol), kWorkerProtocol);
    return false;
  }
  const auto name = j->find("name");
  if (name == j->end() || !name->is_string()) {
    *problem = "it has no \"name\" string";
    return false;
  }
  out->name = printable(name->get<std::string>());
  const auto supports = j->find("supports");
  if (supports == j->end() || supports->is_null()) return true;
  if (!supports->is_object()) {
    *problem = fmt::format("\"supports\" is a {}, not an object", supports->type_name());
    return false;
  }
  for (const auto& [key, value] : supports->items()) {
    if (key == "layouts") {
      if (!value.is_array() || !std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); })) {
        *problem = "\"supports.layouts\" is not a list of layout names";
        return false;
      }
      out->layouts = value.get<std::vector<std::string>>();
    } else if (value.is_boolean()) {
      if (value.get<bool>()) out->features.push_back(key);
    }  // another type: an extension of a later version, ignored
  }
  return true;
}

bool parse_worker_reply(const std::string& line, std::int64_t id, WorkerReply* out, std::string* problem) {
  const std::optional<json> j = parse_object(line, problem);
  if (!j) return false;
  const auto got_id = j->find("id");
  if (got_id == j->end()) {
    *problem = "it has no \"id\"";
    return false;
  }
  if (!got_id->is_number_integer() || got_id->get<std::int64_t>() != id) {
    *problem = fmt::format("its \"id\" is {}, not {}", printable(got_id->dump()), id);
    return false;
  }
  const auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean()) {
    *problem = "it has no boolean \"ok\"";
    return false;
  }
  if (ok->get<bool>()) {
    out->kind = WorkerReply::Kind::ok;
    return true;
  }
  const auto text = [&](const char* key) -> std::optional<std::string> {
    const auto v = j->find(key);
    if (v == j->end() || v->is_null()) return std::nullopt;
    return printable(v->is_string() ? v->get<std::string>() : v->dump());
  };
  if (const auto why = text("unsupported")) {
    out->kind = WorkerReply::Kind::unsupported;
    out->message = *why;
    return true;
  }
  out->kind = WorkerReply::Kind::error;
  out->message = text("error").value_or("(the reply has \"ok\": false and no \"error\" message)");
  return true;
}

std::vector<std::string> worker_features_needed(const CaseSpec& c) {
  // Ragged batches will add "ragged" here, a paged KV cache "paged".
  if (c.backward) return {"backward"};
  return {};
}

std::string worker_unsupported_reason(const WorkerHello& hello, const CaseSpec& c, Layout layout) {
  for (const std::string& f : worker_features_needed(c))
    if (std::find(hello.features.begin(), hello.features.end(), f) == hello.features.end())
      return fmt::format("the case needs '{}', which the worker '{}' does not list as supported", f, hello.name);
  if (hello.layouts) {
    const bool listed = std::any_of(hello.layouts->begin(), hello.layouts->end(),
                                    [&](const std::string& name) { return layout_from_name(name) == layout; });
    if (!listed) {
      std::vector<std::string> names;
      for (const std::string& n : *hello.layouts) names.push_back(printable(n));
      return fmt::format("the worker '{}' writes the layouts [{}] (supports.layouts), not --layout {}", hello.name,
                         fmt::join(names, ", "), layout_name(layout));
    }
  }
  return "";
}

Candidate worker_candidate(const WorkerOptions& opt) {
  const auto state = std::make_shared<WorkerState>(opt);
  Candidate c;
  c.kernel = "worker";
  c.is_expected = false;
  c.last_run = [state] {
    const std::lock_guard lock(state->last_mu);
    return state->last;
  };
  // Once the worker has answered the handshake, a case it cannot run is unsupported before it is
  // prepared; before that, produce() finds out (and says so through last_run).
  c.unsupported = [state](const CaseSpec& spec) -> std::string {
    const std::lock_guard lock(state->mu);
    if (!state->ready) return "";
    return worker_unsupported_reason(state->hello, spec, state->opt.read.layout);
  };
  c.produce = [state](PreparedCase& p, std::vector<double>* out, std::string* err) { return state->produce(p, out, err); };
  c.produce_tensors = [state](PreparedCase&, std::span<const double>, BackwardTensors* t, std::string*) {
    const std::lock_guard lock(state->mu);
    *t = std::move(state->tensors);  // what produce() read beside "out"; judge() calls it right after
    return true;
  };
  return c;
}

}  // namespace attn
