#include "pgbouncer/render.h"

#include <algorithm>

#include "pgbouncer/routes.h"

namespace pgdeploy {
namespace {

bool has_line_break(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Doubles every `q` in `s` and puts it between two: PgBouncer's quoting in all its formats.
std::string quoted(const std::string& s, char q) {
  std::string out(1, q);
  for (char c : s) {
    if (c == q) out += q;
    out += c;
  }
  return out + q;
}

}  // namespace

bool plain_database_name(const std::string& name) {
  return !name.empty() && name.size() < kMaxDbName &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

std::string quote_connstr_value(const std::string& value) {
  // Bare only when nothing in it could end or bend the value: PgBouncer splits at spaces, trims
  // trailing white space (\v and \f too) from the line, and reads ' as a quote.
  bool bare = !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) {
    return is_alnum(c) || std::string("_.-:/@+,%").find(static_cast<char>(c)) != std::string::npos;
  });
  return bare ? value : quoted(value, '\'');
}

bool connstr_value_ok(const std::string& value) { return !has_control(value); }

bool host_ok(const std::string& host) {
  return !host.empty() && host.size() <= 255 && !has_control(host) &&
         host.find_first_of(" '\"\\") == std::string::npos;
}

RouteKind route_kind(const std::string& name) {
  if (name == "pgbouncer" || has_line_break(name) || name.empty() || name.size() >= kMaxDbName)
    return RouteKind::none;
  return plain_database_name(name) ? RouteKind::own_line : RouteKind::fallback;
}

bool console_name(const std::string& name, std::string* out) {
  bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  *out = bare ? name : quoted(name, '"');
  return out->size() < kMaxDbName && !has_line_break(name);
}

std::string quote_auth_field(const std::string& field) { return quoted(field, '"'); }

std::string render_routes(const Endpoint& primary, const std::vector<Route>& routes,
                          const std::string& application_name, std::vector<std::string>* skipped) {
  std::string target = "host=" + quote_connstr_value(primary.host) + " port=" + std::to_string(primary.port);
  std::string suffix;
  if (!application_name.empty()) {
    if (!connstr_value_ok(application_name))
      skipped->push_back("application_name " + application_name +
                         " (control character: PgBouncer cannot hold it; databases routed without it)");
    else suffix = " application_name=" + quote_connstr_value(application_name);
  }
  std::string out;
  bool fallback = false;
  for (const Route& route : routes) {
    if (route.kind == RouteKind::fallback) fallback = true;  // reachable under its own name through "*"
    else out += route.shown + " = " + target + " dbname=" + quote_connstr_value(route.dbname) + suffix + "\n";
  }
  if (fallback) out += "* = " + target + suffix + "\n";
  return out;
}

std::string render_databases(const Endpoint& primary, const std::vector<std::string>& databases,
                             const std::string& application_name, std::vector<std::string>* skipped) {
  return render_routes(primary, select_routes(databases, {}, skipped), application_name, skipped);
}

bool renders_alike(const PgBouncerLimits& a, const PgBouncerLimits& b) {
  return a.max_password == b.max_password;
}

std::string render_userlist(const std::vector<DbUser>& users, const PgBouncerLimits& limits,
                            std::vector<std::string>* skipped) {
  std::string out;
  std::string too_long = "secret longer than PgBouncer's " + std::to_string(limits.max_password - 1) +
                         " bytes";
  for (const DbUser& u : users) {
    std::string name = quote_auth_field(u.name), secret = quote_auth_field(u.secret);
    // PgBouncer stops reading the file at a field it cannot hold, costing every user after it
    // their login: such a user is left out instead. The limits count the text between the quotes.
    std::string why = has_line_break(u.name) || has_line_break(u.secret) ? "line break"
                      : name.size() - 2 >= kMaxUsername          ? "name longer than PgBouncer's 127 bytes"
                      : secret.size() - 2 >= limits.max_password ? too_long
                                                                 : "";
    if (!why.empty()) {
      skipped->push_back("user " + u.name + " (" + why + ")");
      continue;
    }
    out += name + " " + secret + "\n";
  }
  return out;
}

}  // namespace pgdeploy
