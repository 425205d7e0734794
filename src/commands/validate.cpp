#include "src/commands/validate.hpp"

#include <cstdio>

#include "src/commands/common.hpp"
#include "src/config.hpp"
#include "src/parallel.hpp"

namespace attn {

void setup_validate(CLI::App& app, ValidateOptions& opt) {
  app.add_option("--config,-c", opt.config, "suite file to check")->required();
  app.add_option("--max-memory", opt.max_memory, "refuse cases estimated above this size (default 8G)");
}

int run_validate(const ValidateOptions& opt) {
  LoadOptions load{.threads = resolve_threads(0)};
  if (auto bytes = parse_bytes(opt.max_memory)) load.max_memory = *bytes;
  else {
    std::fprintf(stderr, "error: --max-memory '%s' is not a size (e.g. 8G, 512M, 1000000)\n", opt.max_memory.c_str());
    return kExitUsage;
  }
  Suite suite;
  Diagnostics diags;
  if (!load_suite(opt.config, load, &suite, &diags)) {
    print_diagnostics(diags);
    return kExitUsage;
  }
  std::printf("%s: ok, %zu cases\n", opt.config.c_str(), suite.cases.size());
  return kExitPass;
}

}  // namespace attn
