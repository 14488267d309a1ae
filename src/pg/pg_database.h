// The real Database: libpq (pg/pg), the agent's own node by its -p conninfo, every other node by
// the catalog's. Tested by the integration suites against real PostgreSQL and repmgr.
#pragma once

#include <memory>
#include <string>

#include "cluster/database.h"
#include "pg/pg.h"

namespace pgdeploy {

class PgDatabase : public Database {
 public:
  explicit PgDatabase(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  bool connect(const Deadline& deadline, std::string* err) override;
  std::string name() const override;
  bool columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
               const Deadline& deadline, std::string* err) override;
  bool rows(const std::string& schema, const std::string& table,
            const std::vector<std::string>& columns, std::vector<Row>* out,
            const Deadline& deadline, std::string* err) override;
  bool roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) override;
  NodeProbe probe_self_and_close(const Deadline& deadline) override;
  std::vector<NodeProbe> probe_nodes(const std::vector<Node>& nodes,
                                     const Deadline& deadline) override;

 private:
  std::string conninfo_;
  std::unique_ptr<PgConn> conn_;
};

}  // namespace pgdeploy
