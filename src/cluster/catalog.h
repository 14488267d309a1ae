// Reads the cluster facts from the database the agent connects to: repmgr's node catalog, the
// app_servers table, the databases and the users' password secrets.
#pragma once

#include <string>

#include "cluster/facts.h"
#include "cluster/pg.h"

namespace pgdeploy {

// repmgr 4/5 keep their catalog in schema "repmgr"; repmgr 3 in "repmgr_<cluster>".
bool read_cluster_facts(PgConn& conn, const std::string& cluster, bool public_net,
                        const Deadline& deadline, ClusterFacts* out, std::string* err);

}  // namespace pgdeploy
