#include <iostream>

#include "agent.h"
#include "cli/options.h"
#include "watch/watch.h"

int main(int argc, char** argv) {
  pgdeploy::Options opts;
  int code = pgdeploy::parse_options(argc, argv, &opts, std::cout, std::cerr);
  if (code >= 0) return code;
  if (opts.watch) return pgdeploy::run_watch(opts, std::cout, std::cerr);
  return pgdeploy::run_agent(opts, std::cout, std::cerr);
}
