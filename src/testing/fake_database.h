// Test helper: a Database held in memory. Tables are rows of text or NULL, so that a test can
// write the catalog's edge rows as the real database would return them; the nodes' probes are
// set by hand.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster/database.h"

namespace pgdeploy {

class FakeDatabase : public Database {
 public:
  struct Table {
    std::vector<std::string> columns;
    std::vector<Row> rows;  // values in the order of `columns`
  };
  std::map<std::pair<std::string, std::string>, Table> tables;  // (schema, table)
  std::string connect_error;                                    // non-empty: connect() fails with it
  NodeProbe self;                                               // what the agent's own node says
  std::map<int, NodeProbe> probes;       // node id -> what it says; absent: unreachable
  std::function<void()> on_probe_nodes;  // runs as the other nodes are asked
  // What self_writable() answers (null: `self.writable`); false with `err` set: it could not ask.
  std::function<bool(bool* writable, std::string* err)> on_self_writable;
  int connects = 0;
  std::vector<int> fenced;   // fence() was called for these node ids, in order
  std::vector<int> stopped;  // fence() with stop, for these: unreachable from then on
  std::string fence_error;   // non-empty: fence() fails with it
  int fence_sessions = 2;    // what a fence reports it ended
  // has_function(): the databases that have the function; those in `function_errors` cannot be
  // asked (the value says why). Each call is recorded in `function_asked`.
  std::set<std::string> function_in;
  std::map<std::string, std::string> function_errors;
  std::vector<std::string> function_asked;  // "conninfo|database|signature"

  // A repmgr 4/5 database with the standard tables and no row in them.
  static FakeDatabase repmgr4();

  Table& table(const std::string& schema, const std::string& name) { return tables[{schema, name}]; }

  bool connect(const Deadline&, std::string* err) override;
  std::string name() const override { return "repmgr"; }
  bool columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
               const Deadline&, std::string* err) override;
  bool rows(const std::string& schema, const std::string& table, const std::vector<std::string>& columns,
            std::vector<Row>* out, const Deadline&, std::string* err) override;
  // The rows of table pg_catalog.pg_authid, columns as roles() answers them: a test writes
  // valid_until_passed as the database's clock would say it.
  bool roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) override;
  NodeProbe probe_self_and_close(const Deadline&) override { return self; }
  std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes, const Deadline&) override;
  bool self_writable(bool* writable, const Deadline&, std::string* err) override;
  std::vector<NodeProbe> probe_witnesses(const std::vector<Node>& nodes, const Deadline&) override;
  // Records the node, and says it fenced from now on (its probe's read_only_default).
  bool fence(const Node& node, bool stop, const Deadline&, int* sessions_ended, std::string* err) override;
  std::vector<FunctionCheck> has_function(const std::string& conninfo,
                                          const std::vector<std::string>& databases,
                                          const std::string& signature, const Deadline&) override;
};

}  // namespace pgdeploy
