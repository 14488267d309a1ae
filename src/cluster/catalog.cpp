#include "cluster/catalog.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace pgdeploy {
namespace {

const std::string& text(const PgRow& row, size_t i) {
  static const std::string empty;
  return row.at(i) ? *row[i] : empty;
}

bool truth(const PgRow& row, size_t i) { return text(row, i) == "t"; }

// The columns of table `qualified` ("schema"."table"), empty if the table does not exist.
bool columns_of(PgConn& conn, const std::string& qualified, std::set<std::string>* out,
                const Deadline& deadline, std::string* err) {
  std::vector<PgRow> rows;
  if (!conn.query("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
                  "AND attnum > 0 AND NOT attisdropped",
                  {qualified}, &rows, deadline, err))
    return false;
  out->clear();
  for (const auto& r : rows) out->insert(text(r, 0));
  return true;
}

// The first of `names` that is a column, or "".
std::string pick(const std::set<std::string>& columns, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (columns.count(n)) return n;
  return "";
}

bool read_nodes(PgConn& conn, ClusterFacts* facts, const Deadline& deadline, std::string* err) {
  bool v4 = facts->kind == CatalogKind::repmgr4;
  std::string sql = v4
      ? "SELECT node_id, node_name, type, active, conninfo FROM repmgr.nodes ORDER BY node_id"
      : "SELECT id, name, type, active, conninfo FROM " + conn.quote_ident(facts->schema) +
            ".repl_nodes ORDER BY id";
  std::vector<PgRow> rows;
  if (!conn.query(sql, {}, &rows, deadline, err)) {
    *err = "cannot read repmgr's node catalog: " + *err;
    return false;
  }
  for (const auto& r : rows) {
    Node n;
    std::optional<int> id = parse_id(r.at(0));
    if (!id) {
      // Which node is the primary cannot be proven on a catalog that cannot be read whole.
      *err = "repmgr's node catalog has a row with an unusable id: " +
             row_label(v4 ? "node_id" : "id", r[0], text(r, 1)) + "; fix the catalog";
      return false;
    }
    n.id = *id;
    n.name = text(r, 1);
    n.type = text(r, 2) == "master" ? "primary" : text(r, 2);
    n.active = truth(r, 3);
    n.conninfo = text(r, 4);
    facts->nodes.push_back(n);
  }
  return true;
}

bool read_app_servers(PgConn& conn, const std::string& table, const std::set<std::string>& cols,
                      ClusterFacts* facts, const Deadline& deadline, std::string* err) {
  std::string id = pick(cols, {"id", "node_id"});
  std::string name = pick(cols, {"name", "node_name"});
  if (!cols.count("ip_addr") || id.empty() || name.empty()) {
    *err = "table " + table + " lacks column ip_addr, id/node_id or name/node_name";
    return false;
  }
  auto optional = [&](const char* column, const char* fallback) {
    return cols.count(column) ? std::string("COALESCE(") + column + "::text, " + fallback + ")"
                              : std::string(fallback);
  };
  std::string sql = "SELECT " + id + ", COALESCE(" + name + ", ''), COALESCE(ip_addr, ''), " +
                    optional("username", "'postgres'") + ", " +
                    optional("application_name", "''") + ", " +
                    optional("auth_trust", "'f'") + ", " + optional("admin_conninfo", "''") +
                    " FROM " + table + (cols.count("enabled") ? " WHERE enabled" : "") +
                    " ORDER BY " + id;
  std::vector<PgRow> rows;
  if (!conn.query(sql, {}, &rows, deadline, err)) {
    *err = "cannot read " + table + ": " + *err;
    return false;
  }
  for (const auto& r : rows) {
    AppServer s;
    s.name = text(r, 1);
    // The id only names the server in reports and fingerprints: the row is still deployed.
    if (std::optional<int> n = parse_id(r.at(0))) s.id = *n;
    else facts->warnings.push_back(table + " row " + row_label(id, r[0], s.name) +
                                   " has an unusable " + id + ": deployed, but fix the row");
    s.address = text(r, 2);
    s.user = text(r, 3).empty() ? "postgres" : text(r, 3);
    s.application_name = text(r, 4);
    s.auth_trust = text(r, 5) == "true" || text(r, 5) == "t";
    s.admin_conninfo = text(r, 6);
    facts->servers.push_back(s);
  }
  return true;
}

bool read_public_info(PgConn& conn, ClusterFacts* facts, const Deadline& deadline,
                      std::string* err) {
  std::string table = conn.quote_ident(facts->schema) + ".node_public_info";
  std::set<std::string> cols;
  if (!columns_of(conn, table, &cols, deadline, err)) return false;
  std::string id = pick(cols, {"node_id", "id"});
  if (id.empty() || !cols.count("conninfo")) {
    *err = "--public-net needs table " + table + " with columns node_id (or id) and conninfo";
    return false;
  }
  std::vector<PgRow> rows;
  if (!conn.query("SELECT " + id + ", conninfo FROM " + table + " WHERE conninfo IS NOT NULL",
                  {}, &rows, deadline, err))
    return false;
  for (const auto& r : rows) {
    if (std::optional<int> n = parse_id(r.at(0))) facts->public_conninfo[*n] = text(r, 1);
    else facts->warnings.push_back(table + " row " + row_label(id, r[0], text(r, 1)) +
                                   " has an unusable " + id + ": ignored");
  }
  return true;
}

}  // namespace

bool read_cluster_facts(PgConn& conn, const std::string& cluster, bool public_net,
                        const Deadline& deadline, ClusterFacts* facts, std::string* err) {
  const std::string legacy = "repmgr_" + cluster;
  PgRow found;
  if (!conn.query_row("SELECT to_regclass('repmgr.nodes') IS NOT NULL, "
                      "to_regclass($1) IS NOT NULL",
                      {conn.quote_ident(legacy) + ".repl_nodes"}, &found, deadline, err))
    return false;
  if (truth(found, 0)) {
    facts->kind = CatalogKind::repmgr4;
    facts->schema = "repmgr";
  } else if (truth(found, 1)) {
    facts->kind = CatalogKind::repmgr3;
    facts->schema = legacy;
  } else {
    *err = "no repmgr catalog in database \"" + conn.database() + "\" (looked for repmgr.nodes and " +
           legacy + ".repl_nodes); point -p at repmgr's database, e.g. -p 'dbname=repmgr'";
    return false;
  }
  if (!read_nodes(conn, facts, deadline, err)) return false;

  // app_servers lives beside the catalog; a cluster upgraded from repmgr 3 may still keep it in
  // the old schema.
  std::string table;
  std::set<std::string> cols;
  for (const std::string& schema : {facts->schema, legacy, std::string("repmgr")}) {
    std::string candidate = conn.quote_ident(schema) + ".app_servers";
    if (!columns_of(conn, candidate, &cols, deadline, err)) return false;
    if (!cols.empty()) {
      table = candidate;
      break;
    }
  }
  if (table.empty()) {
    *err = "no table " + facts->schema + ".app_servers: create it as the README shows";
    return false;
  }
  if (!read_app_servers(conn, table, cols, facts, deadline, err)) return false;
  if (public_net && !read_public_info(conn, facts, deadline, err)) return false;

  std::vector<PgRow> rows;
  if (!conn.query("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname", {},
                  &rows, deadline, err))
    return false;
  for (const auto& r : rows) facts->databases.push_back(text(r, 0));

  if (!conn.query("SELECT usename, passwd FROM pg_shadow WHERE passwd <> '' ORDER BY usename", {},
                  &rows, deadline, err)) {
    *err = "cannot read pg_shadow (the agent must connect as a superuser): " + *err;
    return false;
  }
  for (const auto& r : rows) facts->users.push_back({text(r, 0), text(r, 1)});
  return true;
}

std::optional<int> parse_id(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  int n = 0;
  const char* end = value->data() + value->size();
  auto [stop, ec] = std::from_chars(value->data(), end, n);
  if (ec != std::errc() || stop != end || value->empty()) return std::nullopt;
  return n;
}

std::string row_label(const std::string& id_column, const std::optional<std::string>& id,
                      const std::string& name) {
  std::string value = !id ? "NULL" : parse_id(id) ? *id : "'" + *id + "'";
  return id_column + " " + value + " (" + name + ")";
}

std::string AppServer::label() const {
  return application_name.empty() ? address : address + " (" + application_name + ")";
}

}  // namespace pgdeploy
