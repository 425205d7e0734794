#include "src/cli/common.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "kernels/mutants.hpp"
#include "src/base/diagnostic.hpp"
#include "src/base/fileio.hpp"

namespace attn {

void print_diagnostics(const Diagnostics& diags) {
  for (const Diagnostic& d : diags) std::fprintf(stderr, "%s\n", d.format().c_str());
}

bool use_color(bool no_color_flag) {
  if (no_color_flag) return false;
  const char* env = std::getenv("NO_COLOR");
  if (env && *env) return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

const MutantInfo* lookup_mutant(const std::string& name) {
  if (const MutantInfo* m = find_mutant(name)) return m;
  std::fprintf(stderr, "%s\n", unknown_mutant_message(name).c_str());
  return nullptr;
}

bool apply_max_memory(const std::string& text, LoadOptions* load) {
  if (auto bytes = parse_bytes(text)) {
    load->max_memory = *bytes;
    return true;
  }
  std::fprintf(stderr, "%s\n", bad_bytes_message(text).c_str());
  return false;
}

bool load_for_command(const std::string& config, const std::string& max_memory, LoadOptions load, Suite* out) {
  if (!apply_max_memory(max_memory, &load)) return false;
  Diagnostics diags;
  if (load_suite(config, load, out, &diags)) return true;
  print_diagnostics(diags);
  return false;
}

const CaseSpec* find_one_case(const Suite& suite, const std::string& config, const std::string& name,
                              const std::string& command) {
  std::vector<const CaseSpec*> matches;
  for (const CaseSpec& c : suite.cases) {
    if (c.name == name) return &c;
    if (glob_match(name, c.name)) matches.push_back(&c);
  }
  if (matches.size() == 1) return matches.front();
  std::vector<std::string> names;
  for (const CaseSpec& c : suite.cases) names.push_back(c.name);
  const std::string near = nearest(name, names);
  std::fprintf(stderr, "%s: error: %s\n", printable(config).c_str(),
               matches.empty() ? fmt::format("no case named '{}'{}", printable(name),
                                             near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)).c_str()
                               : fmt::format("--case '{}' matches {} cases; {} takes one", printable(name), matches.size(),
                                             command).c_str());
  return nullptr;
}

bool write_json_file(const std::string& path, const nlohmann::json& doc) {
  std::string err;
  if (write_file_atomic(path, doc.dump(2) + "\n", &err)) return true;
  std::fprintf(stderr, "%s\n", err.c_str());
  return false;
}

std::vector<PathOption> folder_outputs(const std::string& option, const std::string& dir,
                                       const std::vector<std::string>& names) {
  std::error_code ec;
  const bool exists = std::filesystem::is_directory(dir, ec);
  std::vector<PathOption> out;
  for (const std::string& name : names) out.push_back({option, (std::filesystem::path(dir) / name).string(), exists});
  return out;
}

bool check_output_paths(const std::vector<PathOption>& inputs, const std::vector<PathOption>& outputs) {
  std::vector<std::pair<const PathOption*, FileIdentity>> seen;
  for (const PathOption& in : inputs)
    if (!in.path.empty()) seen.emplace_back(&in, file_identity(in.path));
  const std::size_t n_inputs = seen.size();
  for (const PathOption& out : outputs) {
    if (out.path.empty()) continue;
    const FileIdentity id = file_identity(out.path);
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (!(seen[i].second == id) || (i >= n_inputs && id.is_device)) continue;
      const PathOption& other = *seen[i].first;
      const bool input = i < n_inputs;
      std::fprintf(stderr, "%s: error: %s and %s name the same file%s\nnote: %s\n", out.path.c_str(), out.option.c_str(),
                   other.option.c_str(), input ? fmt::format(" ('{}')", other.path).c_str() : "",
                   input ? "writing it would overwrite an input of the run; choose another path"
                         : "each output needs a file of its own");
      return false;
    }
    std::string err;
    if (out.probe && !probe_output(out.path, &err)) {
      std::fprintf(stderr, "%s (%s)\n", err.c_str(), out.option.c_str());
      return false;
    }
    seen.emplace_back(&out, id);
  }
  return true;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace attn
