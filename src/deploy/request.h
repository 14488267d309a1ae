// The request one app server gets: its files, the fencing token, the console and the reload.
#pragma once

#include <string>

#include "cluster/facts.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "pgbouncer/push.h"

namespace pgdeploy {

// The request one server gets, or false with what in its app_servers row cannot be sent
// (admin_conninfo that libpq rejects or psql cannot take from the environment, ...).
bool build_request(const AppServer& server, const Rendered& files, const DeployConfig& config,
                   PushRequest* out, std::string* err);

}  // namespace pgdeploy
