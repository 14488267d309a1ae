// The real Database: libpq (pg/pg), the agent's own node by its -p conninfo, every other node by
// the catalog's. Tested by the integration suites against real PostgreSQL and repmgr.
//
// A one-shot run closes each connection when done with it. The watcher (`keep`) keeps them
// across rounds, so an idle round opens no connection anywhere; a kept connection that fails
// (a restarted or failed-over server, a query cut off at its deadline: its state is then
// unknown) is closed, and the same question is asked once more over a new one.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cluster/database.h"
#include "pg/pg.h"

namespace pgdeploy {

class PgDatabase : public Database {
 public:
  explicit PgDatabase(std::string conninfo, bool keep = false)
      : conninfo_(std::move(conninfo)), keep_(keep) {}
  bool connect(const Deadline& deadline, std::string* err) override;
  std::string name() const override;
  bool columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
               const Deadline& deadline, std::string* err) override;
  bool rows(const std::string& schema, const std::string& table, const std::vector<std::string>& columns,
            std::vector<Row>* out, const Deadline& deadline, std::string* err) override;
  bool roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) override;
  NodeProbe probe_self_and_close(const Deadline& deadline) override;
  std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes, const Deadline& deadline) override;
  bool self_writable(bool* writable, const Deadline& deadline, std::string* err) override;
  std::vector<NodeProbe> probe_witnesses(const std::vector<Node>& nodes, const Deadline& deadline) override;
  bool fence(const Node& node, bool stop, const Deadline& deadline, int* sessions_ended,
             std::string* err) override;
  std::vector<FunctionCheck> has_function(const std::string& conninfo,
                                          const std::vector<std::string>& databases,
                                          const std::string& signature, const Deadline& deadline) override;

 private:
  std::string conninfo_;
  bool keep_;
  std::unique_ptr<PgConn> conn_;
  std::unique_ptr<PgConn> poll_;                          // self_writable()'s, kept across calls
  std::map<std::string, std::unique_ptr<PgConn>> nodes_;  // probe_nodes()'s, by conninfo (keep_)
};

}  // namespace pgdeploy
