#include <iostream>

#include "agent.h"
#include "cli/options.h"
#include "pg/pg_database.h"
#include "remote/ssh.h"

int main(int argc, char** argv) {
  pgdeploy::Options opts;
  int code = pgdeploy::parse_options(argc, argv, &opts, std::cout, std::cerr);
  if (code >= 0) return code;
  pgdeploy::PgDatabase db(opts.conninfo);
  pgdeploy::SshRemote remote({opts.connect_timeout, opts.host_key_checking == "accept-new",
                              opts.known_hosts, opts.identities});
  return pgdeploy::run_agent(opts, db, remote, std::cout, std::cerr);
}
