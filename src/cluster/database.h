// The narrow interface between the agent and its database, as Remote is to the app servers: what
// the agent asks (a table's columns, a table's rows, the roles, what a node is right now), not
// libpq. The answers are rows of text, NULL kept apart, so that every meaning given to a value (a
// NULL id, a missing optional column, repmgr 3's names) is decided in pure code (cluster/catalog)
// that unit tests feed with edge rows. pg/pg_database is the real one.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/auth_lookup.h"
#include "cluster/facts.h"
#include "util/deadline.h"

namespace pgdeploy {

using Row = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL

class Database {
 public:
  virtual ~Database() = default;
  // Connects to the agent's own node (-p); false with why ("cannot connect to the database ...").
  virtual bool connect(const Deadline& deadline, std::string* err) = 0;
  // The name of the database connected to, for messages.
  virtual std::string name() const = 0;
  // The columns of schema.table: none when there is no such table (or view).
  virtual bool columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
                       const Deadline& deadline, std::string* err) = 0;
  // Every row of schema.table, `columns` as text in that order ("" = a NULL in every row),
  // ordered by the first column's own type.
  virtual bool rows(const std::string& schema, const std::string& table,
                    const std::vector<std::string>& columns, std::vector<Row>* out, const Deadline& deadline,
                    std::string* err) = 0;
  // Every role with a password, by name: rolname, rolpassword, rolcanlogin, rolvaliduntil (NULL
  // = no limit) and whether that time has passed by the database's own clock ("t"/"f"; NULL when
  // there is no limit). pg_authid: the agent connects as a superuser.
  virtual bool roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) = 0;
  // What the connected node is right now; then the connection is closed (kept by a database
  // that keeps its connections across rounds: the watcher's PgDatabase).
  virtual NodeProbe probe_self_and_close(const Deadline& deadline) = 0;
  // What every node but witnesses is right now, all at once, each by its own conninfo.
  virtual std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes, const Deadline& deadline) = 0;
  // Is the agent's own node writable right now (not in recovery)? The watcher's promotion poll
  // asks it ten times a second between rounds, so it is asked on a connection of its own, kept
  // across calls and apart from the one the catalog is read on. False with why when it could
  // not be asked: the next call connects again.
  virtual bool self_writable(bool* writable, const Deadline& deadline, std::string* err) = 0;
  // Whether each witness answers, and nothing else (NodeProbe::witness): a witness is a
  // PostgreSQL of its own. For --require-majority only.
  virtual std::vector<NodeProbe> probe_witnesses(const std::vector<Node>& nodes,
                                                 const Deadline& deadline) = 0;
  // Raises the fence of a stale primary (--fence-stale, agent/fence), by its own conninfo:
  // default_transaction_read_only on for new transactions (ALTER SYSTEM, reload, waited for),
  // then every client session ended but repmgr's (its user), replication's and this one; with
  // `stop`, then its postmaster told to stop (fast shutdown). `sessions_ended`: how many; false
  // with why.
  virtual bool fence(const Node& node, bool stop, const Deadline& deadline, int* sessions_ended,
                     std::string* err) = 0;
  // Whether the function `signature` ("schema.name(argtypes)") exists in each of `databases` on
  // the node `conninfo` addresses (its dbname replaced), each on a connection of its own, closed
  // after; in the order of `databases` (--auth-lookup, cluster/auth_lookup).
  virtual std::vector<FunctionCheck> has_function(const std::string& conninfo,
                                                  const std::vector<std::string>& databases,
                                                  const std::string& signature, const Deadline& deadline) = 0;
};

}  // namespace pgdeploy
