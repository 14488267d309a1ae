// What the agent learns about the cluster before it touches any app server.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgdeploy {

// One row of repmgr's node catalog (repmgr.nodes, or repl_nodes for repmgr 3).
struct Node {
  int id = 0;
  std::string name;
  std::string type;  // "primary"/"standby"/"witness" (repmgr 3: "master" is read as "primary")
  bool active = false;
  std::string conninfo;
};

// Where PgBouncer on an app server must connect to reach a node.
struct Endpoint {
  std::string host;
  int port = 5432;
  bool operator==(const Endpoint&) const = default;
};

// What one database node said it is, right now.
struct NodeProbe {
  int node_id = 0;
  bool reachable = false;
  std::string error;  // why not reachable
  bool writable = false;
  long timeline = 0;
  uint64_t lsn = 0;                // current WAL position, on a writable node
  std::string instance;            // system identifier + postmaster start: tells one server from another
  bool witness = false;            // repmgr's witness: counts for --require-majority, never for the proof
  bool read_only_default = false;  // default_transaction_read_only is on: fenced (cluster/fence)
};

// How PgBouncer on an app server checks passwords, so what pgdeploy writes to its auth_file
// (--auth, or the row's auth_mode): `file` every login role's secret in userlist.txt; `query`
// nothing (PgBouncer's auth_query looks the secrets up, and userlist.txt holds what the operator
// wrote for auth_user); `none` nothing (userlist.txt is the operator's).
enum class AuthMode { file, query, none };

// One enabled row of app_servers: where a PgBouncer runs.
struct AppServer {
  int id = 0;  // 0 when the row's id is NULL or out of range (then a warning names the row)
  std::string name;
  std::string address;            // ip_addr: the SSH target
  std::string user = "postgres";  // the SSH user
  std::string application_name;
  bool auth_trust = false;       // true: do not copy ~/.pgpass there
  std::string admin_conninfo;    // PgBouncer admin console, as psql on that server reaches it; "" = none
  std::optional<AuthMode> auth;  // the row's auth_mode; nullopt = NULL or no column: --auth
  // admin_sockets, as the row holds it: the unix socket directories of every PgBouncer process
  // on the host (so_reuseport), each reached as admin_conninfo with that host; "" = the one
  // process admin_conninfo reaches. Parsed by pgbouncer/console socket_dirs_of.
  std::string admin_sockets;
};

struct DbUser {
  std::string name;
  std::string secret;  // SCRAM or md5 verifier, verbatim from pg_authid
};

enum class CatalogKind { repmgr4, repmgr3 };

struct ClusterFacts {
  CatalogKind kind = CatalogKind::repmgr4;
  std::string schema;  // "repmgr" or "repmgr_<cluster>"
  std::vector<Node> nodes;
  std::vector<AppServer> servers;  // enabled ones only
  std::vector<std::string> databases;
  std::vector<DbUser> users;                   // the roles that may log in now, by the database's clock
  std::vector<std::string> roles_left_out;     // "role x (NOLOGIN)": a secret, but no login now
  std::map<int, std::string> public_conninfo;  // node_public_info, read only with --public-net
  std::vector<std::string> warnings;           // rows read with a problem that does not stop the run
};

}  // namespace pgdeploy
