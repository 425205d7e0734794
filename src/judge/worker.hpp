// A persistent external kernel as the candidate (SPEC §13, `--candidate-worker CMD`): the command is
// started once, on the first case, and handed one request per case over the attn-diff.worker.v1
// protocol (JSON lines on its stdin and stdout; docs/workers.md). Each case is a fresh temporary
// dump directory holding the inputs, golden, naive, tiled and case.json; the worker writes the
// output file and answers ok, an error, or unsupported. A worker that crashes, hangs or answers
// garbage makes that case an `error` with its last stderr lines and is killed with its process
// group and restarted for the next case, a bounded number of times.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/io/candidate_file.hpp"
#include "src/judge/runner.hpp"

namespace attn {

inline constexpr const char* kWorkerProtocol = "attn-diff.worker.v1";

/// Why `command` cannot be a --candidate-worker, "" when it can: it must not be empty or blank.
/// (It has no placeholders: the paths travel in the requests.)
std::string worker_command_problem(const std::string& command);

struct WorkerOptions {
  std::string command;     // run once as /bin/sh -c COMMAND in its own process group
  double timeout_s = 300;  // per case (writing the dump, the request, reading the output), and for the handshake
  bool keep_temp = false;  // leave each case's temporary directory behind
  // With keep_temp: told each kept directory that no error message names, as ExternalOptions::on_kept.
  std::function<void(const std::string& case_name, const std::string& dir)> on_kept;
  CandidateReadOptions read;  // --layout, --bf16-bits for the output file; the layout is also sent
  int threads = 1;            // for the dump's tiled.npy (the correct tiled kernel, cached in the PreparedCase)
  // The bound on restarts: after this many restarts in one run, or after two failed starts in a row
  // (the worker did not start, or did not answer the handshake), attn-diff gives up on the worker and
  // every later case is an error without starting it again.
  int max_restarts = 10;
  double shutdown_grace_s = 2.0;  // after {"op": "shutdown"} before SIGTERM (then 1 s before SIGKILL)
};

/// The candidate that sends each case to one worker process. Its state (the process) is owned by
/// the returned Candidate and its copies: each call makes an independent worker. The worker starts
/// on the first case and is shut down (`{"op": "shutdown"}`, stdin closed, then SIGTERM and SIGKILL to
/// its group) when the last copy is destroyed. A stop signal during a case kills the worker's group,
/// removes the case's temporary directory and throws Interrupted. The report's kernel is "worker".
Candidate worker_candidate(const WorkerOptions& opt);

/// What a worker said in its handshake (SPEC §13 step 1).
struct WorkerHello {
  std::string protocol;
  std::string name;
  std::vector<std::string> features;             // the keys of "supports" whose value is true
  std::optional<std::vector<std::string>> layouts;  // supports.layouts: the output layouts it writes
};

/// Parses the handshake reply. False with the problem in *problem when it is not a JSON object
/// with a string "protocol" and "name" and a well-typed "supports"; a reply that names another
/// protocol fills out->protocol and returns false too (the caller tells that case apart).
bool parse_worker_hello(const std::string& line, WorkerHello* out, std::string* problem);

struct WorkerReply {
  enum class Kind { ok, error, unsupported } kind = Kind::ok;
  std::string message;  // the worker's "error" or "unsupported" text, printable()
};

/// Parses the reply to request `id` (SPEC §13 step 2). False with the problem in *problem when it
/// is not a JSON object, has no "id" equal to `id`, or no boolean "ok" (with "ok": false, an
/// "unsupported" or "error" string). Extra fields are allowed.
bool parse_worker_reply(const std::string& line, std::int64_t id, WorkerReply* out, std::string* problem);

/// The features of SPEC §13 ("backward", "paged", "ragged") that case `c` needs from a worker; a
/// worker that does not list one as true in its handshake gets the case as `unsupported`. No
/// shipped case needs one yet: the backward, paged and ragged cases add their feature here.
std::vector<std::string> worker_features_needed(const CaseSpec& c);

/// Why a worker that said `hello` cannot run case `c` with its output read as `layout` ("" when it
/// can): a needed feature it does not list, or a supports.layouts list without `layout`.
std::string worker_unsupported_reason(const WorkerHello& hello, const CaseSpec& c, Layout layout);

}  // namespace attn
