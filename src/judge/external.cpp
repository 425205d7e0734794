#include "src/judge/external.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "src/base/diagnostic.hpp"
#include "src/base/interrupt.hpp"
#include "src/io/dumpdir.hpp"

namespace attn {

namespace fs = std::filesystem;

namespace {

bool shell_safe(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("_./-=:+,@%", ch))) return false;
  return true;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

const std::vector<std::string> kPlaceholderKeys = {"inputs", "out", "case"};
const std::vector<std::pair<std::string, std::string>> kPlaceholderVariables = {
    {"inputs", "ATTN_DIFF_INPUTS"}, {"out", "ATTN_DIFF_OUT"}, {"case", "ATTN_DIFF_CASE"}};

// Where the placeholders of `keys` stand in a shell command, and whether the shell reads each one
// unquoted, the only place where inserting a single-quoted value keeps it one plain word. The
// scan follows the shell's quoting (sh(1) "Quoting"); what it does not follow exactly (the
// inside of $(...), `...` and ${...}, here-documents) only makes it refuse more, never less: a
// placeholder inside such a construct is refused, and after a substitution opened inside quotes
// every later placeholder is, since where those quotes end is then not certain.
struct Placeholders {
  std::vector<std::pair<std::size_t, std::string>> at;  // position in the command, key
  std::string problem;                                  // why the command is refused, "" if it is not
};

Placeholders scan_placeholders(const std::string& cmd, const std::vector<std::string>& keys) {
  enum class In { code, single, ansi, dquote, subst, backquote, brace, comment, heredoc };
  static const char* const where[] = {"", "inside single quotes", "inside $'...'", "inside double quotes",
                                      "inside a $(...) substitution", "inside a `...` substitution",
                                      "inside a ${...} expansion", "in a comment", "in a here-document"};
  Placeholders p;
  std::vector<In> stack = {In::code};
  bool uncertain = false, heredoc_next_line = false;
  const auto key_at = [&](std::size_t i) -> const std::string* {
    for (const std::string& k : keys)
      if (cmd.compare(i, k.size() + 2, "{" + k + "}") == 0) return &k;
    return nullptr;
  };
  const auto refuse = [&](const std::string& key, const std::string& why) {
    const std::string var = std::find_if(kPlaceholderVariables.begin(), kPlaceholderVariables.end(),
                                         [&](const auto& kv) { return kv.first == key; })->second;
    p.problem = fmt::format("--candidate-cmd: the placeholder {{{}}} stands {}, where the quotes attn-diff puts "
                            "around its value do not hold: a value holding $(...), such as a hostile case name, would run as a "
                            "command\n"
                            "note: write {{{}}} unquoted (attn-diff quotes the value itself), or use the environment "
                            "variable \"${}\" instead",
                            key, why, key, var);
  };
  const auto open = [&](In in) {
    if (stack.back() != In::code) uncertain = true;  // a substitution inside quotes or another substitution
    stack.push_back(in);
  };
  for (std::size_t i = 0; i < cmd.size() && p.problem.empty();) {
    const In in = stack.back();
    const bool top = stack.size() == 1;
    if (const std::string* key = key_at(i)) {
      if (!top) refuse(*key, where[int(in)]);
      else if (uncertain) refuse(*key, "after a substitution opened inside quotes");
      else p.at.emplace_back(i, *key);
      i += key->size() + 2;
      continue;
    }
    const char c = cmd[i];
    const char next = i + 1 < cmd.size() ? cmd[i + 1] : '\0';
    switch (in) {
      case In::code:
      case In::subst:
      case In::brace:
        if (c == '\\') {
          if (const std::string* key = key_at(i + 1)) refuse(*key, "right after a backslash");
          i += 2;
          continue;
        }
        if (c == '$') {
          if (const std::string* key = key_at(i + 1)) refuse(*key, "right after a '$'");
          else if (next == '(') open(In::subst);
          else if (next == '{') open(In::brace);
          else if (next == '\'') open(In::ansi);
          else if (next == '"') open(In::dquote);
          i += next == '(' || next == '{' || next == '\'' || next == '"' ? 2 : 1;
          continue;
        }
        if (c == '\'') stack.push_back(In::single);
        else if (c == '"') stack.push_back(In::dquote);
        else if (c == '`') open(In::backquote);
        else if (c == '#' && (i == 0 || std::strchr(" \t\n;&|()<>", cmd[i - 1]))) stack.push_back(In::comment);
        else if (c == '<' && next == '<') heredoc_next_line = true, ++i;
        else if (c == '\n' && heredoc_next_line) stack.push_back(In::heredoc);  // to the end: its end is not parsed
        else if (c == '(' && in == In::subst) stack.push_back(In::subst);
        else if ((c == ')' && in == In::subst) || (c == '}' && in == In::brace)) stack.pop_back();
        break;
      case In::single:
        if (c == '\'') stack.pop_back();
        break;
      case In::ansi:
      case In::backquote:
      case In::dquote:
        if (c == '\\') {
          if (const std::string* key = key_at(i + 1)) refuse(*key, where[int(in)]);
          i += 2;
          continue;
        }
        if ((c == '\'' && in == In::ansi) || (c == '`' && in == In::backquote) || (c == '"' && in == In::dquote))
          stack.pop_back();
        else if (in == In::dquote && c == '`') open(In::backquote);
        else if (in == In::dquote && c == '$' && (next == '(' || next == '{')) open(next == '(' ? In::subst : In::brace), ++i;
        break;
      case In::comment:
        if (c == '\n') stack.pop_back();
        break;
      case In::heredoc: break;
    }
    ++i;
  }
  return p;
}

std::string with_tail(std::string message, const CommandResult& r, bool say_if_silent = true) {
  if (r.tail.empty()) return say_if_silent ? message + " (no output)" : message;
  message += "; its last output:";
  for (const std::string& line : r.tail) message += "\n    | " + line;
  return message;
}

}  // namespace

std::string blank_command_problem(const std::string& command, const std::string& option, const std::string& what,
                                  const std::string& example) {
  if (command.find_first_not_of(" \t\n\r\f\v") != std::string::npos) return "";
  return fmt::format("{} is empty: there is no command to judge\n"
                     "note: is the variable it was given from unset? pass the command attn-diff {}, e.g. {} '{}'",
                     option, what, option, example);
}

std::string candidate_command_problem(const std::string& command) {
  if (std::string blank = blank_command_problem(command, "--candidate-cmd", "runs per case",
                                                "python3 kernel.py {inputs} {out}");
      !blank.empty())
    return blank;
  return scan_placeholders(command, kPlaceholderKeys).problem;
}

bool expand_command(const std::string& command, const std::vector<std::pair<std::string, std::string>>& values,
                    std::string* out, std::string* err) {
  std::vector<std::string> keys;
  for (const auto& [key, _] : values) keys.push_back(key);
  const Placeholders p = scan_placeholders(command, keys);
  if (!p.problem.empty()) {
    *err = p.problem;
    return false;
  }
  out->clear();
  std::size_t from = 0;
  for (const auto& [pos, key] : p.at) {
    const auto& name = key;  // clang 14 cannot capture a structured binding
    const std::string& value = std::find_if(values.begin(), values.end(), [&](const auto& kv) { return kv.first == name; })->second;
    *out += command.substr(from, pos - from);
    *out += shell_safe(value) ? value : shell_quote(value);
    from = pos + key.size() + 2;
  }
  *out += command.substr(from);
  return true;
}

Candidate external_candidate(const ExternalOptions& opt) {
  Candidate c;
  c.kernel = "external";
  c.is_expected = false;
  // What the last case's command did, for Candidate::last_run (the mutex: a library caller may
  // share the candidate between threads; "last" is then whichever finished last).
  struct LastRun {
    std::mutex mu;
    std::optional<CandidateRun> run;
    BackwardTensors tensors;  // what the file held beside "out", for produce_tensors
  };
  const auto last = std::make_shared<LastRun>();
  c.last_run = [last] {
    const std::lock_guard lock(last->mu);
    return last->run;
  };
  c.produce = [opt, last](PreparedCase& p, std::vector<double>* out, std::string* err) {
    const CaseSpec& spec = p.spec;
    {
      const std::lock_guard lock(last->mu);
      last->run.reset();
      last->tensors = {};
    }
    // The commands check it at the start (exit 2); a library caller gets the same refusal per case.
    if (std::string problem = candidate_command_problem(opt.command); !problem.empty()) {
      *err = std::move(problem);
      return false;
    }
    throw_if_interrupted();  // no new case, and no temporary directory, once asked to stop
    const CleanupPending tidy_first;  // a second Ctrl-C must not kill us while the directory exists
    std::string pattern = (fs::temp_directory_path() / "attn-diff-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      *err = fmt::format("cannot create a temporary directory ({})", std::strerror(errno));
      return false;
    }
    const fs::path tmp(pattern);
    // A backward case's tensors need a .safetensors file (SPEC §10); the name says so to the command.
    const std::string inputs = (tmp / "inputs").string(),
                      out_path = (tmp / (spec.backward ? "out.safetensors" : "out.npy")).string();
    auto finish = [&](bool ok) {
      std::error_code ec;
      if (!opt.keep_temp) fs::remove_all(tmp, ec);
      else if (ok || interrupted()) {
        if (opt.on_kept) opt.on_kept(spec.name, tmp.string());
      }
      else *err += fmt::format("\n    note: kept {}", tmp.string());
      if (interrupted()) throw Interrupted();  // the run reports the cases before this one
      return ok;
    };
    if (!write_dump({.dir = inputs, .format = DumpFormat::npy}, spec, p.inputs, {}, err)) return finish(false);
    if (interrupted()) return finish(false);

    std::string command;
    expand_command(opt.command, {{"inputs", inputs}, {"out", out_path}, {"case", spec.name}}, &command, err);
    const CommandResult r = run_shell_command(
        command, {.timeout_s = opt.timeout_s,
                  .env = {{"ATTN_DIFF_INPUTS", inputs}, {"ATTN_DIFF_OUT", out_path}, {"ATTN_DIFF_CASE", spec.name}}});
    if (r.started) {
      const std::lock_guard lock(last->mu);
      last->run = CandidateRun{.seconds = r.seconds, .output = r.tail};
    }
    if (!r.ok()) {
      *err = with_tail("the candidate command " + r.describe(opt.timeout_s), r);
      return finish(false);
    }
    std::error_code ec;
    if (!fs::exists(out_path, ec)) {
      *err = with_tail(fmt::format("the candidate command exited with status 0 but wrote nothing to {}", out_path), r);
      return finish(false);
    }
    std::string read_err;
    BackwardTensors tensors;
    if (!read_candidate_file(out_path, spec, opt.read, out, &tensors, &read_err)) {
      *err = with_tail("the candidate command's output is unusable: " + read_err, r, false);
      return finish(false);
    }
    {
      const std::lock_guard lock(last->mu);
      last->tensors = std::move(tensors);
    }
    return finish(true);
  };
  c.produce_tensors = [last](PreparedCase&, std::span<const double>, BackwardTensors* t, std::string*) {
    const std::lock_guard lock(last->mu);
    *t = std::move(last->tensors);
    return true;
  };
  return c;
}

}  // namespace attn
