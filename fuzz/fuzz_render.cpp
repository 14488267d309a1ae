// The renderers of PgBouncer's files and of the fencing token (src/pgbouncer/).
//
// Fields (fuzz.h): 0 the primary's host, 1 application_name, 2 the cluster name of the token,
// 3... items: each item is a database name, each pair of items (2i, 2i+1) a user and its secret,
// and every item goes through each quoting function alone.
//
// Beyond "no crash": every line written reads back, by PgBouncer's rules as modelled below, as
// exactly what was meant (the database, the primary's host and port, the application_name, the
// user and the secret), and whatever is not written is reported in `skipped`.
#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "fuzz.h"
#include "pgbouncer/render.h"
#include "pgbouncer/token.h"

namespace pgdeploy::fuzz {
namespace {

// PgBouncer 1.18's readers, modelled on its config loader (libusual's ini parser, then its own
// connection-string parser), stricter where the renderers never need the slack:
// - the file is one C string: a NUL ends it; a line ends at LF;
// - a line is `key = value`, and the value loses its trailing white space (isspace: also \t, \v,
//   \f, \r);
// - in the value, pairs `kw=value` are separated by spaces (' ' only, not tabs), a value is bare
//   up to the next space or in single quotes with quotes doubled, and no value may be empty,
//   quoted or not.
bool carriable(const std::string& s) { return s.find_first_of(std::string("\n\0", 2)) == std::string::npos; }

// A [databases] key PgBouncer can hold: the ini parser's key characters, within its 63 bytes.
bool pgbouncer_key(const std::string& name) {
  return !name.empty() && name.size() < kMaxDbName &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; });
}

// A connection-string value at `*at` of `text`; moves `*at` past it.
std::optional<std::string> connstr_value(const std::string& text, size_t* at) {
  size_t i = *at;
  std::string v;
  if (i < text.size() && text[i] == '\'') {
    for (++i;; ++i) {
      if (i >= text.size()) return std::nullopt;
      if (text[i] == '\'') {
        if (i + 1 < text.size() && text[i + 1] == '\'') ++i;
        else break;
      }
      v += text[i];
    }
    *at = i + 1;
    return v.empty() ? std::nullopt : std::optional(v);
  }
  size_t end = std::min(text.find(' ', i), text.size());
  if (end == i) return std::nullopt;
  *at = end;
  return text.substr(i, end - i);
}

// What the ini parser hands on as the value of a line: its trailing white space cut.
std::string ini_value(std::string v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  return v;
}

// A double-quoted field (userlist.txt, admin console names) at `*at`, quotes doubled.
std::optional<std::string> quoted_field(const std::string& line, size_t* at) {
  size_t i = *at;
  if (i >= line.size() || line[i] != '"') return std::nullopt;
  std::string v;
  for (++i;; ++i) {
    if (i >= line.size()) return std::nullopt;
    if (line[i] == '"') {
      if (i + 1 < line.size() && line[i + 1] == '"') ++i;
      else break;
    }
    v += line[i];
  }
  *at = i + 1;
  return v;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// "<name> = kw=value kw=value ..." -> name and pairs; nullopt when PgBouncer could not read it.
std::optional<std::pair<std::string, Pairs>> database_line(const std::string& line) {
  size_t eq = line.find(" = ");
  if (eq == std::string::npos || !carriable(line)) return std::nullopt;
  std::string name = line.substr(0, eq);
  if (name != "*" && !pgbouncer_key(name)) return std::nullopt;
  const std::string value = ini_value(line.substr(eq + 3));
  Pairs pairs;
  for (size_t at = 0; at < value.size();) {
    size_t kw_end = value.find('=', at);
    if (kw_end == std::string::npos || kw_end == at || value.find(' ', at) < kw_end) return std::nullopt;
    size_t v_at = kw_end + 1;
    auto v = connstr_value(value, &v_at);
    if (!v || (v_at < value.size() && value[v_at] != ' ')) return std::nullopt;
    pairs.emplace_back(value.substr(at, kw_end - at), *v);
    at = v_at + 1;
  }
  return std::make_pair(name, pairs);
}

std::vector<std::string> lines_of(const std::string& text) {
  check(text.empty() || text.back() == '\n', "a rendered file ends with a line break", text);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  return lines;
}

bool mentions(const std::vector<std::string>& skipped, const std::string& what) {
  for (const std::string& s : skipped)
    if (s.find(what) != std::string::npos) return true;
  return false;
}

void check_quoting(const std::string& item) {
  if (carriable(item) && !item.empty()) {  // nothing quotes an empty value: it is left out
    // Between pairs (the host) and last on its line (the application_name).
    const std::string q = quote_connstr_value(item), middle = q + " port=1", last = ini_value(q);
    size_t at = 0;
    auto back = connstr_value(middle, &at);
    check(back && at == q.size() && *back == item,
          "quote_connstr_value reads back as the value, followed by more pairs", item);
    at = 0;
    back = connstr_value(last, &at);
    check(back && at == last.size() && *back == item,
          "quote_connstr_value reads back as the value, last on its line", item);
  }

  const std::string field = quote_auth_field(item);
  size_t at = 0;
  auto read = quoted_field(field, &at);
  check(read && at == field.size() && *read == item, "a userlist field reads back", item);

  std::string on_console;
  if (console_name(item, &on_console)) {
    at = 0;
    read = on_console[0] == '"' ? quoted_field(on_console, &at) : std::optional(on_console);
    bool bare_ok = on_console[0] == '"' ||
                   on_console.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
    check(read && *read == item && bare_ok && on_console.size() < kMaxDbName && carriable(item) &&
              item.find('\r') == std::string::npos,
          "a console name reads back, in PgBouncer's 63 bytes, on one line", item);
  } else {
    check(on_console.size() >= kMaxDbName || !carriable(item) || item.find('\r') != std::string::npos,
          "a console name is refused only when too long or with a line break", item);
  }
}

void check_databases(const Endpoint& primary, const std::vector<std::string>& databases,
                     const std::string& application_name) {
  if (!host_ok(primary.host)) return;  // the agent refuses any other host before it renders
  std::vector<std::string> skipped;
  std::string text = render_databases(primary, databases, application_name, &skipped);
  bool fallback_needed = false, fallback_seen = false;
  std::vector<std::string> written;
  for (const std::string& line : lines_of(text)) {
    auto parsed = database_line(line);
    check(parsed.has_value(), "every [databases] line is one PgBouncer can read", line);
    const auto& [name, pairs] = *parsed;
    Pairs meant = {{"host", primary.host}, {"port", std::to_string(primary.port)}};
    if (name == "*") {
      check(!fallback_seen, "one fallback line at most", text);
      fallback_seen = true;
    } else {
      meant.emplace_back("dbname", name);
      written.push_back(name);
    }
    Pairs without_app(pairs.begin(), pairs.end());
    if (!pairs.empty() && pairs.back().first == "application_name") {
      check(pairs.back().second == application_name, "application_name reads back", line);
      without_app.pop_back();
    } else {
      check(application_name.empty() || !skipped.empty(), "an application_name left out is reported", line);
    }
    check(without_app == meant, "a line routes to the primary's host and port, and its own dbname", line);
  }
  for (const std::string& db : databases) {
    bool own_line = false;
    for (const std::string& w : written) own_line = own_line || w == db;
    if (route_kind(db) == RouteKind::none) {
      check(!own_line && mentions(skipped, "database " + db), "an unrouted database is reported", db);
    } else if (route_kind(db) == RouteKind::own_line) {
      check(pgbouncer_key(db), "a database with its own line has a name PgBouncer can hold", db);
      // Reported by name, unless nothing at all was written and the reason said.
      check(own_line || mentions(skipped, db) || (text.empty() && !skipped.empty()),
            "a plain name has its own line or is reported", db);
    } else {
      fallback_needed = true;
    }
  }
  for (const std::string& w : written) {
    bool asked = false;
    for (const std::string& db : databases) asked = asked || w == db;
    check(asked, "no line for a database that was not asked for", w);
  }
  check(!fallback_needed || fallback_seen || !skipped.empty(),
        "a routed name PgBouncer cannot parse is reached through the fallback line", text);
}

void check_userlist(const std::vector<DbUser>& users) {
  std::vector<std::string> skipped;
  const PgBouncerLimits limits;  // an unknown version's (1.18's)
  std::string text = render_userlist(users, limits, &skipped);
  size_t next = 0;  // the users are written in order, some left out
  for (const std::string& line : lines_of(text)) {
    check(carriable(line) && line.find('\r') == std::string::npos, "a userlist line holds no NUL or CR",
          line);
    size_t at = 0;
    auto name = quoted_field(line, &at);
    const size_t name_end = at;
    bool space = name && at < line.size() && line[at++] == ' ';
    auto secret = space ? quoted_field(line, &at) : std::nullopt;
    check(secret && at == line.size(), "every userlist line is \"user\" \"secret\"", line);
    // PgBouncer measures the text between the quotes, as written.
    check(name_end - 2 < kMaxUsername && at - name_end - 3 < limits.max_password,
          "a userlist field fits PgBouncer's limits (127 and 2047 bytes)", line);
    while (next < users.size() && !(users[next].name == *name && users[next].secret == *secret)) {
      check(mentions(skipped, "user " + users[next].name), "a user left out is reported", users[next].name);
      ++next;
    }
    check(next < users.size(), "a userlist line reads back as a user and secret asked for", line);
    ++next;
  }
  for (; next < users.size(); ++next)
    check(mentions(skipped, "user " + users[next].name), "a user left out is reported", users[next].name);
}

// The cluster name is one the command line accepts (no line break: options.cpp refuses it).
void check_token(const std::string& cluster, const std::string& body, uint64_t n) {
  Token t{cluster, static_cast<int>(n & 0xFFFF), static_cast<long>(n >> 16 & 0xFFFF), n};
  std::string d = digest_of(body);
  check(d.size() == 64 && d.find_first_not_of("0123456789abcdef") == std::string::npos,
        "a digest is SHA-256 in 64 hex digits", d);
  if (cluster.find('\n') != std::string::npos) return;
  for (char comment : {'#', ';'}) {
    TokenedFile f = with_header(comment, t, body);
    std::string header = header_line(comment, t, d);
    check(f.digest == d && f.content == header + "\n" + body,
          "a file is its one-line header, then the body verbatim", f.content);
    check(header.find('\n') == std::string::npos && header[0] == comment, "the header is one comment line",
          header);
    std::string tail = " digest=" + d;
    check(header.size() > tail.size() && header.compare(header.size() - tail.size(), tail.size(), tail) == 0,
          "the header ends with the digest, for the remote side's suffix match", header);
  }
}

}  // namespace
}  // namespace pgdeploy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using namespace pgdeploy::fuzz;
  std::vector<std::string> f = fields_of(data, size, 3);
  std::vector<std::string> items(f.begin() + 3, f.end());
  Endpoint primary{f[0], static_cast<int>(1 + size % 65535)};

  for (const std::string& item : items) check_quoting(item);
  check_databases(primary, items, f[1]);
  std::vector<DbUser> users;
  for (size_t i = 0; i + 1 < items.size(); i += 2) users.push_back({items[i], items[i + 1]});
  check_userlist(users);
  check_token(f[2], items.empty() ? f[1] : items[0], size * 0x9E3779B97F4A7C15ull);
  return 0;
}
