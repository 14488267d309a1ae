#include <iostream>

#include "agent/check.h"
#include "agent/deploy.h"
#include "agent/proof.h"
#include "cli/options.h"
#include "pg/pg_database.h"
#include "remote/ssh.h"
#include "watch/watch.h"

int main(int argc, char** argv) {
  pgdeploy::Options opts;
  int code = pgdeploy::parse_options(argc, argv, &opts, std::cout, std::cerr);
  if (code >= 0) return code;
  pgdeploy::PgDatabase db(opts.conninfo);
  if (opts.watch) return pgdeploy::run_watch(opts, db, std::cout, std::cerr);
  pgdeploy::SshRemote remote(pgdeploy::ssh_settings(opts));
  if (opts.check) return pgdeploy::run_check(opts, db, remote, std::cout);
  return pgdeploy::run_deploy(opts, db, remote, std::cout, std::cerr);
}
