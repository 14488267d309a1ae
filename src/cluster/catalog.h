// Reads the cluster facts from the database the agent connects to: repmgr's node catalog, the
// app_servers table, the databases and the users' password secrets.
#pragma once

#include <optional>
#include <string>

#include "cluster/database.h"
#include "cluster/facts.h"

namespace pgdeploy {

// repmgr 4/5 keep their catalog in schema "repmgr"; repmgr 3 in "repmgr_<cluster>".
bool read_cluster_facts(Database& db, const std::string& cluster, bool public_net, const Deadline& deadline,
                        ClusterFacts* out, std::string* err);

// An id column's value as an int; nullopt for NULL, for text that is not a whole decimal number
// and for a number beyond int's range (a bigint id, say): never an exception.
std::optional<int> parse_id(const std::optional<std::string>& value);

// How a message names a row: "id 3 (app1)", "node_id NULL (node3)", "id '99999999999' (x)".
std::string row_label(const std::string& id_column, const std::optional<std::string>& id,
                      const std::string& name);
// The same for an app_servers row once read: "id 3 (app1)", or "unusable id (app1)" for id 0
// (see AppServer::id).
std::string row_label(const AppServer& row);

// An auth mode's name ("file", "query", "none") and back; nullopt for any other text.
const char* auth_mode_name(AuthMode mode);
std::optional<AuthMode> auth_mode_of(const std::string& name);

// An SQL identifier in double quotes, as messages name a schema ("repmgr".app_servers).
std::string quote_ident(const std::string& name);

}  // namespace pgdeploy
