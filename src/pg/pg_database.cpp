#include "pg/pg_database.h"

#include "pg/conninfo.h"
#include "util/parallel.h"

namespace pgdeploy {
namespace {

constexpr int kProbeWorkers = 16;  // probe_nodes: at most this many nodes asked at once

// On a primary the current WAL file name starts with the timeline at once; the checkpoint's
// timeline can lag behind a promotion. A standby's newest timeline is what it receives.
const char* kProbeSql =
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    "      ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,"
    " CASE WHEN pg_is_in_recovery() THEN NULL"
    "      ELSE (pg_current_wal_lsn() - '0/0')::text END,"
    " greatest((SELECT timeline_id FROM pg_control_checkpoint()),"
    "          (SELECT max(received_tli) FROM pg_stat_wal_receiver)),"
    " (SELECT system_identifier FROM pg_control_system())::text || ' ' ||"
    "  pg_postmaster_start_time()::text";

// What the server behind an open connection is.
NodeProbe probe_connection(PgConn& conn, const Deadline& deadline) {
  NodeProbe p;
  PgRow row;
  if (!conn.query_row(kProbeSql, {}, &row, deadline, &p.error)) return p;
  p.reachable = true;
  p.writable = row[0] && *row[0] == "f";
  try {
    if (p.writable) {
      p.timeline = std::stol(row[1].value_or("0"), nullptr, 16);
      p.lsn = std::stoull(row[2].value_or("0"));
    } else {
      p.timeline = std::stol(row[3].value_or("0"));
    }
  } catch (const std::exception&) {
    p.reachable = false;
    p.error = "unexpected answer to the timeline query";
  }
  p.instance = row[4].value_or("");
  return p;
}

}  // namespace

bool PgDatabase::connect(const Deadline& deadline, std::string* err) {
  std::string why;
  conn_ = PgConn::connect(conninfo_, deadline, &why);
  if (!conn_)
    *err = "cannot connect to the database (" + redacted_conninfo(conninfo_) + "): " + why;
  return conn_ != nullptr;
}

std::string PgDatabase::name() const { return conn_ ? conn_->database() : ""; }

bool PgDatabase::columns(const std::string& schema, const std::string& table,
                         std::set<std::string>* out, const Deadline& deadline, std::string* err) {
  std::vector<PgRow> rows;
  if (!conn_->query("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
                    "AND attnum > 0 AND NOT attisdropped",
                    {conn_->quote_ident(schema) + "." + conn_->quote_ident(table)}, &rows, deadline,
                    err))
    return false;
  out->clear();
  for (const auto& r : rows)
    if (r.at(0)) out->insert(*r[0]);
  return true;
}

bool PgDatabase::rows(const std::string& schema, const std::string& table,
                      const std::vector<std::string>& columns, std::vector<Row>* out,
                      const Deadline& deadline, std::string* err) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < columns.size(); ++i)
    sql += (i ? ", " : "") + (columns[i].empty() ? "NULL" : conn_->quote_ident(columns[i])) + "::text";
  sql += " FROM " + conn_->quote_ident(schema) + "." + conn_->quote_ident(table);
  // By the column's own type: ids as numbers, names as the database collates them.
  if (!columns.empty() && !columns[0].empty()) sql += " ORDER BY " + conn_->quote_ident(columns[0]);
  return conn_->query(sql, {}, out, deadline, err);
}

bool PgDatabase::roles(std::vector<Row>* out, const Deadline& deadline, std::string* err) {
  // pg_authid, not pg_shadow: pg_shadow hides the NOLOGIN roles, which the report names. The
  // validity is judged by the database's clock, as PostgreSQL judges a login, not the agent's.
  return conn_->query("SELECT rolname::text, rolpassword, rolcanlogin::text, rolvaliduntil::text, "
                      "(rolvaliduntil <= now())::text FROM pg_catalog.pg_authid "
                      "WHERE rolpassword IS NOT NULL ORDER BY rolname",
                      {}, out, deadline, err);
}

NodeProbe PgDatabase::probe_self_and_close(const Deadline& deadline) {
  NodeProbe self = probe_connection(*conn_, deadline);
  conn_.reset();
  return self;
}

std::vector<NodeProbe> PgDatabase::probe_nodes(const std::vector<Node>& nodes,
                                               const Deadline& deadline) {
  std::vector<const Node*> asked;
  for (const Node& n : nodes)
    if (n.type != "witness") asked.push_back(&n);  // a witness has a timeline of its own
  std::vector<NodeProbe> probes(asked.size());
  // All at once in any cluster repmgr is run with (a few nodes), so a node that hangs costs the
  // others nothing; bounded all the same, so that a catalog of hundreds of rows does not start
  // hundreds of threads and connections. Past 16, a node that hangs until the deadline holds a
  // worker, and a node behind it in the queue is asked later, within the same deadline.
  parallel_for(asked.size(), kProbeWorkers, [&](size_t i) {
    const Node& node = *asked[i];
    NodeProbe& out = probes[i];
    std::string err;
    auto conn = PgConn::connect(node.conninfo, deadline, &err);
    if (conn) out = probe_connection(*conn, deadline);
    else out.error = err;
    out.node_id = node.id;
  });
  return probes;
}

}  // namespace pgdeploy
