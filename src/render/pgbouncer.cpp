#include "render/pgbouncer.h"

#include <algorithm>

namespace pgdeploy {
namespace {

bool has_line_break(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

}  // namespace

bool plain_database_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
  });
}

std::string quote_connstr_value(const std::string& value) {
  if (!value.empty() && value.find_first_of(" '\t") == std::string::npos) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

RouteKind route_kind(const std::string& name) {
  if (name == "pgbouncer" || has_line_break(name)) return RouteKind::none;
  return plain_database_name(name) ? RouteKind::own_line : RouteKind::fallback;
}

std::string quote_auth_field(const std::string& field) {
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string render_databases(const Endpoint& primary, const std::vector<std::string>& databases,
                             const std::string& application_name,
                             std::vector<std::string>* skipped) {
  std::string target = "host=" + quote_connstr_value(primary.host) +
                       " port=" + std::to_string(primary.port);
  std::string suffix;
  if (!application_name.empty()) {
    if (has_line_break(application_name))
      skipped->push_back("application_name " + application_name + " (line break)");
    else suffix = " application_name=" + quote_connstr_value(application_name);
  }
  std::string out;
  bool fallback = false;
  for (const std::string& db : databases) {
    if (db == "pgbouncer") {
      // PgBouncer reserves this name for its admin console and rejects the whole file over it.
      skipped->push_back("database pgbouncer (reserved by PgBouncer for its admin console)");
    } else if (plain_database_name(db)) {
      out += db + " = " + target + " dbname=" + db + suffix + "\n";
    } else if (has_line_break(db)) {
      skipped->push_back("database " + db + " (line break)");
    } else {
      fallback = true;  // reachable under its own name through "*"
    }
  }
  if (fallback) out += "* = " + target + suffix + "\n";
  return out;
}

std::string render_userlist(const std::vector<DbUser>& users, std::vector<std::string>* skipped) {
  std::string out;
  for (const DbUser& u : users) {
    if (has_line_break(u.name) || has_line_break(u.secret)) {
      skipped->push_back("user " + u.name + " (line break)");
      continue;
    }
    out += quote_auth_field(u.name) + " " + quote_auth_field(u.secret) + "\n";
  }
  return out;
}

}  // namespace pgdeploy
