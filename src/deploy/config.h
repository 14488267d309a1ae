// How a run deploys: where the files go on an app server, how PgBouncer is reloaded, how sessions
// on the old primary are treated, how many servers at once and for how long.
#pragma once

#include <string>

#include "cluster/facts.h"
#include "pgbouncer/push.h"

namespace pgdeploy {

struct DeployConfig {
  std::string cluster;
  std::string include_dir = "/etc/pgbouncer/databases";  // <cluster>.ini is written here
  std::string userlist = "/etc/pgbouncer/userlist.txt";
  std::string pgpass = "~/.pgpass";  // on the app server
  std::string reload_command;        // "" = pgbouncer/console's default_reload_command
  AuthMode auth = AuthMode::file;    // a row's auth_mode wins over it
  bool force = false;
  bool drain_sessions = false;  // PAUSE (bounded) instead of KILL when the primary moved
  int pause_wait_seconds = 2;
  int parallel = 32;
  double host_timeout = 5.0;
  PushRequest::Mode mode = PushRequest::Mode::push;  // check: ask, read only (pgdeploy check, --dry-run)
};

}  // namespace pgdeploy
