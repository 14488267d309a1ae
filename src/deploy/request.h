// The request one app server gets: its files, the fencing token, the console and the reload.
#pragma once

#include <map>
#include <string>

#include "cluster/facts.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "pgbouncer/push.h"

namespace pgdeploy {

// The request one server gets, or false with what in its app_servers row cannot be sent
// (admin_conninfo that libpq rejects or psql cannot take from the environment, ...).
// `held`: path -> digest of the content a resident program already holds (pgdeploy watch): such
// a file is its header line alone (RemoteFile::head_only), so that an idle round (or a check the
// watcher runs) neither copies nor sends any file's whole content, whatever its size.
bool build_request(const AppServer& server, const Rendered& files, const DeployConfig& config,
                   PushRequest* out, std::string* err,
                   const std::map<std::string, std::string>* held = nullptr);

}  // namespace pgdeploy
