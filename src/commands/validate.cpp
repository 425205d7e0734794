#include "src/commands/validate.hpp"

#include <cstdio>

#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/parallel.hpp"

namespace attn {

void setup_validate(CLI::App& app, ValidateOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file to check")->required();
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)")->check(byte_size());
}

int run_validate(const ValidateOptions& opt) {
  LoadOptions load{.threads = resolve_threads(0)};
  Suite suite;
  if (!load_for_command(opt.config, opt.max_memory, load, &suite)) return kExitUsage;
  std::printf("%s: ok, %zu cases\n", printable(opt.config).c_str(), suite.cases.size());
  return kExitPass;
}

}  // namespace attn
