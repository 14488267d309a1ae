#include "cluster/catalog.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace pgdeploy {
namespace {

const std::string& text(const Row& row, size_t i) {
  static const std::string empty;
  return row.at(i) ? *row[i] : empty;
}

// A boolean as text: "true" (a ::text cast) or "t" (PostgreSQL's own output).
bool truth(const Row& row, size_t i) { return text(row, i) == "t" || text(row, i) == "true"; }

// The first of `names` that is a column, or "".
std::string pick(const std::set<std::string>& columns, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (columns.count(n)) return n;
  return "";
}

// `column` if the table has it, else "" (read as NULL in every row).
std::string optional_column(const std::set<std::string>& columns, const char* column) {
  return columns.count(column) ? column : "";
}

bool read_nodes(Database& db, ClusterFacts* facts, const Deadline& deadline, std::string* err) {
  bool v4 = facts->kind == CatalogKind::repmgr4;
  std::vector<Row> rows;
  bool read = v4 ? db.rows("repmgr", "nodes", {"node_id", "node_name", "type", "active", "conninfo"}, &rows,
                           deadline, err)
                 : db.rows(facts->schema, "repl_nodes", {"id", "name", "type", "active", "conninfo"}, &rows,
                           deadline, err);
  if (!read) {
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

bool read_app_servers(Database& db, const std::string& schema, const std::set<std::string>& cols,
                      ClusterFacts* facts, const Deadline& deadline, std::string* err) {
  const std::string table = quote_ident(schema) + ".app_servers";
  std::string id = pick(cols, {"id", "node_id"});
  std::string name = pick(cols, {"name", "node_name"});
  if (!cols.count("ip_addr") || id.empty() || name.empty()) {
    *err = "table " + table + " lacks column ip_addr, id/node_id or name/node_name";
    return false;
  }
  std::vector<Row> rows;
  if (!db.rows(schema, "app_servers",
               {id, name, "ip_addr", optional_column(cols, "username"),
                optional_column(cols, "application_name"), optional_column(cols, "auth_trust"),
                optional_column(cols, "admin_conninfo"), optional_column(cols, "enabled"),
                optional_column(cols, "auth_mode"), optional_column(cols, "admin_sockets")},
               &rows, deadline, err)) {
    *err = "cannot read " + table + ": " + *err;
    return false;
  }
  bool has_enabled = cols.count("enabled") > 0;
  for (const auto& r : rows) {
    if (has_enabled && !truth(r, 7)) continue;  // false or NULL: left alone
    AppServer s;
    s.name = text(r, 1);
    // The id only names the server in reports and fingerprints: the row is still deployed.
    if (std::optional<int> n = parse_id(r.at(0))) s.id = *n;
    else
      facts->warnings.push_back(table + " row " + row_label(id, r[0], s.name) + " has an unusable " + id +
                                ": deployed, but fix the row");
    s.address = text(r, 2);
    s.user = text(r, 3).empty() ? "postgres" : text(r, 3);
    s.application_name = text(r, 4);
    s.auth_trust = truth(r, 5);
    s.admin_conninfo = text(r, 6);
    s.admin_sockets = text(r, 9);
    if (r.at(8)) {
      s.auth = auth_mode_of(*r[8]);
      // Never secrets where they were not asked for: a secret in auth_file switches auth_query off.
      if (!s.auth) {
        s.auth = AuthMode::none;
        facts->warnings.push_back(table + " row " + row_label(id, r[0], s.name) + " has auth_mode '" + *r[8] +
                                  "' (not file, query or none): its userlist.txt is left alone");
      }
    }
    facts->servers.push_back(s);
  }
  return true;
}

bool read_public_info(Database& db, ClusterFacts* facts, const Deadline& deadline, std::string* err) {
  std::string table = quote_ident(facts->schema) + ".node_public_info";
  std::set<std::string> cols;
  if (!db.columns(facts->schema, "node_public_info", &cols, deadline, err)) return false;
  std::string id = pick(cols, {"node_id", "id"});
  if (id.empty() || !cols.count("conninfo")) {
    *err = "--public-net needs table " + table + " with columns node_id (or id) and conninfo";
    return false;
  }
  std::vector<Row> rows;
  if (!db.rows(facts->schema, "node_public_info", {id, "conninfo"}, &rows, deadline, err)) return false;
  for (const auto& r : rows) {
    if (!r.at(1)) continue;  // a NULL conninfo says nothing
    if (std::optional<int> n = parse_id(r.at(0))) facts->public_conninfo[*n] = text(r, 1);
    else
      facts->warnings.push_back(table + " row " + row_label(id, r[0], text(r, 1)) + " has an unusable " + id +
                                ": ignored");
  }
  return true;
}

}  // namespace

bool read_cluster_facts(Database& db, const std::string& cluster, bool public_net, const Deadline& deadline,
                        ClusterFacts* facts, std::string* err) {
  const std::string legacy = "repmgr_" + cluster;
  std::set<std::string> v4, v3;
  if (!db.columns("repmgr", "nodes", &v4, deadline, err) ||
      !db.columns(legacy, "repl_nodes", &v3, deadline, err))
    return false;
  if (!v4.empty()) {
    facts->kind = CatalogKind::repmgr4;
    facts->schema = "repmgr";
  } else if (!v3.empty()) {
    facts->kind = CatalogKind::repmgr3;
    facts->schema = legacy;
  } else {
    *err = "no repmgr catalog in database \"" + db.name() + "\" (looked for repmgr.nodes and " + legacy +
           ".repl_nodes); point -p at repmgr's database, e.g. -p 'dbname=repmgr'";
    return false;
  }
  if (!read_nodes(db, facts, deadline, err)) return false;

  // app_servers lives beside the catalog; a cluster upgraded from repmgr 3 may still keep it in
  // the old schema.
  std::string schema;
  std::set<std::string> cols;
  for (const std::string& candidate : {facts->schema, legacy, std::string("repmgr")}) {
    if (!db.columns(candidate, "app_servers", &cols, deadline, err)) return false;
    if (!cols.empty()) {
      schema = candidate;
      break;
    }
  }
  if (schema.empty()) {
    *err = "no table " + facts->schema +
           ".app_servers: create it as step 2 of the setup shows (docs/setup.md)";
    return false;
  }
  if (!read_app_servers(db, schema, cols, facts, deadline, err)) return false;
  if (public_net && !read_public_info(db, facts, deadline, err)) return false;

  std::vector<Row> rows;
  if (!db.rows("pg_catalog", "pg_database", {"datname", "datistemplate"}, &rows, deadline, err)) return false;
  for (const auto& r : rows)
    if (!truth(r, 1)) facts->databases.push_back(text(r, 0));

  if (!db.roles(&rows, deadline, err)) {
    *err = "cannot read the roles' secrets (pg_authid: the agent must connect as a superuser): " + *err;
    return false;
  }
  for (const auto& r : rows) {
    if (text(r, 1).empty()) continue;  // no password: nothing PgBouncer could check
    // PostgreSQL refuses these logins; PgBouncer, holding their secret, would not.
    std::string why = !truth(r, 2)  ? "NOLOGIN"
                      : truth(r, 4) ? "VALID UNTIL " + text(r, 3) + " has passed"
                                    : "";
    if (why.empty()) facts->users.push_back({text(r, 0), text(r, 1)});
    else facts->roles_left_out.push_back("role " + text(r, 0) + " (" + why + ")");
  }
  return true;
}

const char* auth_mode_name(AuthMode mode) {
  return mode == AuthMode::file ? "file" : mode == AuthMode::query ? "query" : "none";
}

std::optional<AuthMode> auth_mode_of(const std::string& name) {
  for (AuthMode m : {AuthMode::file, AuthMode::query, AuthMode::none})
    if (name == auth_mode_name(m)) return m;
  return std::nullopt;
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

std::string row_label(const AppServer& row) {
  return row.id ? row_label("id", std::to_string(row.id), row.name) : "unusable id (" + row.name + ")";
}

std::string quote_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace pgdeploy
