#include "src/cli/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "src/base/parallel.hpp"
#include "src/cli/common.hpp"
#include "src/report/table.hpp"
#include "src/suite/config.hpp"

namespace attn {

void setup_validate(CLI::App& app, ValidateOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file to check")->required();
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)")->check(byte_size());
  app.add_flag("--names", opt.names, "print only the case names, one per line");
}

int run_validate(const ValidateOptions& opt) {
  LoadOptions load{.threads = resolve_threads(0)};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  if (opt.names) {  // names are printable (the loader refuses others), so each is one line
    for (const CaseSpec& c : suite.cases) std::printf("%s\n", c.name.c_str());
    return kExitPass;
  }
  std::printf("%s: ok, %zu cases\n", printable(opt.config).c_str(), suite.cases.size());
  std::size_t name_w = 0, shape_w = 0, features_w = 0;
  for (const CaseSpec& c : suite.cases) {
    name_w = std::max(name_w, c.name.size());
    shape_w = std::max(shape_w, shape_label(c.problem.shape).size());
    features_w = std::max(features_w, features_label(c).size());
  }
  for (const CaseSpec& c : suite.cases)
    std::printf("%s\n", fmt::format("  {:<{}}  {:<{}}  {:<{}}  {}", c.name, name_w, shape_label(c.problem.shape), shape_w,
                                    features_label(c), features_w, c.recipe.name).c_str());
  return kExitPass;
}

}  // namespace attn
