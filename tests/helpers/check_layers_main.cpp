// attn_diff_check_layers ROOT: checks that the sources under ROOT keep the layering of
// src/README.md, and exits 1 with one compiler-style line per violation (0 when there is none).
//   1. every file under src/ is in a known layer folder;
//   2. an #include "..." of a source file goes to the same layer or a lower one; the two rank-2
//      layers (kernels, io) do not include each other, nor do the two rank-6 ones (src/cli and
//      python/, the Python module: it may include any core layer, never the command line);
//   3. the core (every layer but cli; python/ included) names no terminal, exit or signal-handling call outside
//      comments and string literals (printf, std::cout, stderr, exit, abort, isatty, sigaction,
//      execv, <CLI/...>): the core returns errors as values, and the command line prints them.
// ctest runs it on the repository (layering.includes) and on tests/data/layering_bad, which must
// fail (layering.self_test), so a check that quietly matches nothing cannot pass.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Layer folders and their ranks: a file may include its own rank or lower.
const std::map<std::string, int> kRanks = {{"src/base", 0},  {"src/suite", 1}, {"kernels", 2},   {"src/io", 2},
                                           {"src/judge", 3}, {"src/report", 4}, {"src/tools", 5}, {"src/cli", 6},
                                           {"python", 6}};

// Names the core must not use: the command line alone talks to the terminal, exits and handles
// signals.
const std::set<std::string> kForbidden = {"printf", "fprintf", "puts",  "fputs",      "putchar", "cout",
                                          "cerr",   "clog",    "stdout", "stderr",    "exit",    "_exit",
                                          "quick_exit", "abort", "isatty", "sigaction", "execv",   "execve",
                                          "execvp", "system"};
// Where one of them is the point: the child of fork() must _exit after a failed execve.
const std::map<std::string, std::set<std::string>> kAllowed = {{"src/io/process.cpp", {"_exit", "execve"}}};

// The layer folder of a path relative to the root ("" when it is in none).
std::string layer_of(const std::string& path) {
  for (const auto& [folder, rank] : kRanks)
    if (path.starts_with(folder + "/")) return folder;
  return "";
}

struct Source {
  std::vector<std::pair<int, std::string>> includes;    // (line, path) of #include "path"
  std::vector<std::pair<int, std::string>> identifiers;  // (line, name) outside comments and literals
  std::vector<std::pair<int, std::string>> system_includes;  // (line, path) of #include <path>
};

// A small C++ lexer: enough to skip comments, string and character literals (raw strings too)
// and to read #include lines and identifiers.
Source scan(const std::string& text) {
  Source s;
  int line = 1;
  bool line_start = true;  // only whitespace since the last newline
  const std::size_t n = text.size();
  auto is_ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (std::size_t i = 0; i < n;) {
    const char c = text[i];
    if (c == '\n') {
      ++line, ++i, line_start = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      const std::size_t end = text.find("*/", i + 2);
      const std::size_t stop = end == std::string::npos ? n : end + 2;
      line += int(std::count(text.begin() + long(i), text.begin() + long(stop), '\n'));
      i = stop;
      continue;
    }
    if (c == '#' && line_start) {
      std::size_t j = i + 1;
      while (j < n && (text[j] == ' ' || text[j] == '\t')) ++j;
      if (text.compare(j, 7, "include") == 0) {
        j += 7;
        while (j < n && (text[j] == ' ' || text[j] == '\t')) ++j;
        const char open = j < n ? text[j] : '\0';
        const char close = open == '"' ? '"' : open == '<' ? '>' : '\0';
        const std::size_t end = close ? text.find(close, j + 1) : std::string::npos;
        if (end != std::string::npos) {
          (open == '"' ? s.includes : s.system_includes).emplace_back(line, text.substr(j + 1, end - j - 1));
          i = end + 1;
          line_start = false;
          continue;
        }
      }
    }
    line_start = false;
    if (c == 'R' && i + 1 < n && text[i + 1] == '"' && (i == 0 || !is_ident(text[i - 1]))) {
      const std::size_t paren = text.find('(', i + 2);
      const std::string delim = ")" + text.substr(i + 2, paren - i - 2) + "\"";
      const std::size_t end = paren == std::string::npos ? std::string::npos : text.find(delim, paren);
      const std::size_t stop = end == std::string::npos ? n : end + delim.size();
      line += int(std::count(text.begin() + long(i), text.begin() + long(stop), '\n'));
      i = stop;
      continue;
    }
    if (c == '"' || c == '\'') {
      std::size_t j = i + 1;
      while (j < n && text[j] != c && text[j] != '\n') j += text[j] == '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (is_ident(c)) {
      std::size_t j = i;
      while (j < n && is_ident(text[j])) ++j;
      if (!std::isdigit(static_cast<unsigned char>(c))) s.identifiers.emplace_back(line, text.substr(i, j - i));
      i = j;
      continue;
    }
    ++i;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: attn_diff_check_layers ROOT\n");
    return 2;
  }
  const fs::path root = argv[1];
  if (!fs::is_directory(root / "src")) {
    std::fprintf(stderr, "attn_diff_check_layers: %s has no src/ folder\n", root.c_str());
    return 2;
  }
  std::vector<std::string> files;
  for (const char* top : {"src", "kernels", "python"}) {
    if (!fs::is_directory(root / top)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / top))
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), root).generic_string());
  }
  std::sort(files.begin(), files.end());
  int errors = 0, checked = 0, edges = 0;
  auto error = [&](const std::string& file, int line, const std::string& what) {
    std::printf("%s:%d: error: %s\n", file.c_str(), line, what.c_str());
    ++errors;
  };
  for (const std::string& file : files) {
    const std::string ext = fs::path(file).extension().string();
    if (ext != ".cpp" && ext != ".hpp") continue;  // README.md and the like
    const std::string layer = layer_of(file);
    if (layer.empty()) {
      error(file, 1, "not in a layer folder: put it in one of src/{base,suite,io,judge,report,tools,cli}, kernels or python (src/README.md)");
      continue;
    }
    ++checked;
    const int rank = kRanks.at(layer);
    std::ifstream in(root / file, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    const Source src = scan(buf.str());
    for (const auto& [line, inc] : src.includes) {
      if (!inc.starts_with("src/") && !inc.starts_with("kernels/")) continue;  // not ours
      ++edges;
      const std::string to = layer_of(inc);
      if (to.empty()) {
        error(file, line, "includes \"" + inc + "\", which is in no layer folder");
      } else if (kRanks.at(to) > rank) {
        error(file, line, "layer '" + layer + "' includes the higher layer '" + to + "' (\"" + inc + "\")");
      } else if (kRanks.at(to) == rank && to != layer) {
        error(file, line, "layer '" + layer + "' includes its sibling '" + to + "' (\"" + inc + "\"): move what both need lower");
      }
    }
    if (layer == "src/cli") continue;  // python/ is core code too: it raises, never prints
    for (const auto& [line, inc] : src.system_includes)
      if (inc.starts_with("CLI/")) error(file, line, "the core includes <" + inc + ">: command-line parsing belongs in src/cli");
    const auto allowed = kAllowed.find(file);
    for (const auto& [line, name] : src.identifiers) {
      if (!kForbidden.count(name)) continue;
      if (allowed != kAllowed.end() && allowed->second.count(name)) continue;
      error(file, line, "the core uses '" + name + "': only src/cli prints, exits or handles signals (return the error as a value)");
    }
  }
  if (checked == 0) {
    std::printf("%s: error: no source file found under src/ or kernels/\n", root.c_str());
    return 1;
  }
  std::printf("%d files, %d includes of project headers checked: %d violation%s\n", checked, edges, errors,
              errors == 1 ? "" : "s");
  return errors ? 1 : 0;
}
