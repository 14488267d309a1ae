#include <iostream>
#include <memory>

#include "agent/check.h"
#include "agent/deploy.h"
#include "agent/proof.h"
#include "cli/options.h"
#include "pg/pg_database.h"
#include "remote/ssh.h"
#include "watch/watch.h"

int main(int argc, char** argv) {
  using namespace pgdeploy;
  Options opts;
  int code = parse_options(argc, argv, &opts, std::cout, std::cerr);
  if (code >= 0) return code;
  // The watcher keeps its connections across rounds: an idle round opens none.
  PgDatabase db(opts.conninfo, /*keep=*/opts.command == Command::watch);
  switch (opts.command) {
    case Command::deploy: {
      SshRemote remote(ssh_settings(opts));
      return run_deploy(opts, db, remote, std::cout, std::cerr);
    }
    case Command::check: {
      SshRemote remote(ssh_settings(opts));
      return run_check(opts, db, remote, std::cout);
    }
    case Command::watch:  // a new transport at the start and after SIGHUP; sessions kept warm
      return run_watch(
          opts, db, [&opts] { return std::make_unique<SshRemote>(ssh_settings(opts)); }, std::cout,
          std::cerr);
  }
  return kExitUsage;  // not reached: parse_options() sets one of the commands above
}
