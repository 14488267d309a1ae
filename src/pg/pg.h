// A thin libpq connection whose every wait ends at a deadline (libpq's own connect_timeout
// counts whole seconds and at least two).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/database.h"
#include "util/deadline.h"

struct pg_conn;

namespace pgdeploy {

using PgRow = Row;  // cluster/database.h: nullopt = SQL NULL

class PgConn {
 public:
  // Connects using `conninfo` (PG* environment variables fill in what it leaves out, as in psql).
  static std::unique_ptr<PgConn> connect(const std::string& conninfo, const Deadline& deadline,
                                         std::string* err);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one statement with text parameters; rows of text values.
  bool query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>* rows,
             const Deadline& deadline, std::string* err);
  // The same, for a statement that must return exactly one row.
  bool query_row(const std::string& sql, const std::vector<std::string>& params, PgRow* row,
                 const Deadline& deadline, std::string* err);

  // Quotes an SQL identifier such as a schema name.
  std::string quote_ident(const std::string& name) const;
  std::string database() const;

 private:
  explicit PgConn(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
};

}  // namespace pgdeploy
