// The run fingerprint: what --recent compares with the last push from this node.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"
#include "deploy/config.h"
#include "deploy/files.h"

namespace pgdeploy {

// What every server would get, in one digest: the primary, the timeline, each file's content, the
// servers and how they are reached and reloaded. Not the generation: a later run that would push
// the same has the same fingerprint.
std::string deploy_fingerprint(const std::vector<AppServer>& servers, const Rendered& files,
                               const DeployConfig& config);

// Appends the columns of an app_servers row that decide what its server gets ("|id,address,user,
// application_name,t|f,admin_conninfo"): the fingerprint's and the watcher's (watch/fleet) digests.
void append_row(std::string* out, const AppServer& s);

}  // namespace pgdeploy
