#include "pg/pg_database.h"

#include <unistd.h>

#include <cstdlib>

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
    "  pg_postmaster_start_time()::text,"
    " current_setting('default_transaction_read_only')";

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
  p.read_only_default = row[5] && *row[5] == "on";
  return p;
}

// Every node given, at most 16 at once, each on a new connection closed after (the witnesses,
// asked only for --require-majority; the data nodes' connections are kept: probe_nodes).
std::vector<NodeProbe> probe_each(const std::vector<const Node*>& asked, const Deadline& deadline) {
  std::vector<NodeProbe> probes(asked.size());
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

}  // namespace

bool PgDatabase::connect(const Deadline& deadline, std::string* err) {
  std::string why;
  PgRow row;
  // A kept connection is tried first, so that one a restart broke is made again here rather
  // than found broken by the catalog's first query.
  if (keep_ && conn_ && conn_->query_row("SELECT 1", {}, &row, deadline, &why)) return true;
  conn_ = PgConn::connect(conninfo_, deadline, &why);
  if (!conn_) *err = "cannot connect to the database (" + redacted_conninfo(conninfo_) + "): " + why;
  return conn_ != nullptr;
}

std::string PgDatabase::name() const { return conn_ ? conn_->database() : ""; }

bool PgDatabase::columns(const std::string& schema, const std::string& table, std::set<std::string>* out,
                         const Deadline& deadline, std::string* err) {
  std::vector<PgRow> rows;
  if (!conn_->query("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
                    "AND attnum > 0 AND NOT attisdropped",
                    {conn_->quote_ident(schema) + "." + conn_->quote_ident(table)}, &rows, deadline, err))
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
  return conn_->query(
      "SELECT rolname::text, rolpassword, rolcanlogin::text, rolvaliduntil::text, "
      "(rolvaliduntil <= now())::text FROM pg_catalog.pg_authid "
      "WHERE rolpassword IS NOT NULL ORDER BY rolname",
      {}, out, deadline, err);
}

NodeProbe PgDatabase::probe_self_and_close(const Deadline& deadline) {
  NodeProbe self = probe_connection(*conn_, deadline);
  if (!keep_ || !self.reachable) conn_.reset();
  return self;
}

std::vector<NodeProbe> PgDatabase::probe_nodes(const std::vector<Node>& nodes, const Deadline& deadline) {
  std::vector<const Node*> asked;
  for (const Node& n : nodes)
    if (n.type != "witness") asked.push_back(&n);  // a witness has a timeline of its own
  std::vector<NodeProbe> probes(asked.size());
  // All at once in any cluster repmgr is run with (a few nodes), so a node that hangs costs the
  // others nothing; bounded all the same, so that a catalog of hundreds of rows does not start
  // hundreds of threads and connections. Past 16, a node that hangs until the deadline holds a
  // worker, and a node behind it in the queue is asked later, within the same deadline.
  // Each worker has a connection of its own: the kept ones are handed out first (a second node
  // with the same conninfo finds none and makes its own) and taken back after.
  std::vector<std::unique_ptr<PgConn>> conns(asked.size());
  for (size_t i = 0; i < asked.size(); ++i)
    if (auto it = nodes_.find(asked[i]->conninfo); it != nodes_.end()) conns[i] = std::move(it->second);
  parallel_for(asked.size(), kProbeWorkers, [&](size_t i) {
    const Node& node = *asked[i];
    NodeProbe& out = probes[i];
    std::unique_ptr<PgConn>& conn = conns[i];
    if (conn) out = probe_connection(*conn, deadline);
    if (!out.reachable) {  // none kept, or a kept one failed: once more over a new connection
      std::string err;
      conn = PgConn::connect(node.conninfo, deadline, &err);
      if (conn) out = probe_connection(*conn, deadline);
      else out.error = err;
    }
    if (!out.reachable) conn.reset();
    out.node_id = node.id;
  });
  nodes_.clear();  // a node no longer in the catalog: its connection closes
  if (keep_)
    for (size_t i = 0; i < asked.size(); ++i)
      if (conns[i]) nodes_.emplace(asked[i]->conninfo, std::move(conns[i]));
  return probes;
}

std::vector<NodeProbe> PgDatabase::probe_witnesses(const std::vector<Node>& nodes, const Deadline& deadline) {
  std::vector<const Node*> asked;
  for (const Node& n : nodes)
    if (n.type == "witness") asked.push_back(&n);
  std::vector<NodeProbe> probes = probe_each(asked, deadline);
  for (NodeProbe& p : probes) p.witness = true;
  return probes;
}

bool PgDatabase::fence(const Node& node, bool stop, const Deadline& deadline, int* sessions_ended,
                       std::string* err) {
  std::string why;
  auto conn = PgConn::connect(node.conninfo, deadline, &why);
  PgRow row;
  std::vector<PgRow> none;
  auto fail = [&](const std::string& step) {
    *err = step + ": " + why;
    return false;
  };
  if (!conn) return fail("cannot connect");
  // Read-only for every transaction that does not ask otherwise, in sessions to come and, from
  // their next transaction, in those open now; a reload makes it so.
  if (!conn->query("ALTER SYSTEM SET default_transaction_read_only = on", {}, &none, deadline, &why))
    return fail("ALTER SYSTEM");
  if (!conn->query_row("SELECT pg_reload_conf()", {}, &row, deadline, &why)) return fail("reload");
  // This session sees the setting once the postmaster has reloaded: a session forked after that
  // starts read-only, so none can slip between the reload and the end of the sessions below.
  for (;;) {
    if (!conn->query_row("SELECT current_setting('default_transaction_read_only')", {}, &row, deadline, &why))
      return fail("reload");
    if (row.at(0) && *row[0] == "on") break;
    if (deadline.expired()) {
      why = "the reload did not take effect in time";
      return fail("reload");
    }
    usleep(10000);
  }
  // Client sessions only (walsenders and background workers are other backend types), not
  // repmgr's (they log in as the catalog's user, as this one does), and not this one.
  if (!conn->query_row("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                       "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                       "AND pid <> pg_backend_pid() AND usename IS DISTINCT FROM current_user",
                       {}, &row, deadline, &why))
    return fail("ending sessions");
  *sessions_ended = row.at(0) ? std::atoi(row[0]->c_str()) : 0;
  if (!stop) return true;
  // SIGINT to the postmaster is a fast shutdown (pg_ctl stop -m fast). Only a program the server
  // runs can send it: COPY TO PROGRAM (a superuser's, or pg_execute_server_program's), in the data
  // directory, where the first line of postmaster.pid is its pid. The shutdown may end this
  // session before it answers.
  if (!conn->query("COPY (SELECT 1) TO PROGRAM 'kill -INT \"$(head -n 1 postmaster.pid)\"'", {}, &none,
                   deadline, &why) &&
      why.find("terminat") == std::string::npos && why.find("closed") == std::string::npos)
    return fail("stopping the postmaster");
  return true;
}

std::vector<FunctionCheck> PgDatabase::has_function(const std::string& conninfo,
                                                    const std::vector<std::string>& databases,
                                                    const std::string& signature, const Deadline& deadline) {
  std::vector<FunctionCheck> checks(databases.size());
  // As the nodes are probed: a database that hangs holds one worker until the deadline, not all.
  parallel_for(databases.size(), kProbeWorkers, [&](size_t i) {
    FunctionCheck& c = checks[i];
    c.database = databases[i];
    std::string there;
    PgRow row;
    if (!conninfo_with_dbname(conninfo, databases[i], &there, &c.error)) return;
    auto conn = PgConn::connect(there, deadline, &c.error);
    // The signature is a parameter: to_regprocedure() parses it, NULL when there is no such
    // function (or schema); a signature it cannot parse is an error, said as such.
    if (!conn ||
        !conn->query_row("SELECT to_regprocedure($1) IS NOT NULL", {signature}, &row, deadline, &c.error))
      return;
    c.asked = true;
    c.exists = row.size() == 1 && row[0] == "t";
  });
  return checks;
}

bool PgDatabase::self_writable(bool* writable, const Deadline& deadline, std::string* err) {
  if (!poll_) poll_ = PgConn::connect(conninfo_, deadline, err);
  PgRow row;
  if (!poll_ || !poll_->query_row("SELECT pg_is_in_recovery()", {}, &row, deadline, err)) {
    poll_.reset();  // a database restarted: connect again next time
    return false;
  }
  *writable = row.size() == 1 && row[0] == "f";
  return true;
}

}  // namespace pgdeploy
