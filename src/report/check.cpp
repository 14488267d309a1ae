#include "report/check.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "util/text.h"

namespace pgdeploy {
namespace {

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string address_of(const Endpoint& e) { return e.host + ":" + std::to_string(e.port); }

void add_once(std::vector<std::string>* list, const std::string& item) {
  if (std::find(list->begin(), list->end(), item) == list->end()) list->push_back(item);
}

const char* state_name(ServerVerdict::State s) {
  switch (s) {
    case ServerVerdict::State::ok:
      return "ok";
    case ServerVerdict::State::stale:
      return "stale";
    case ServerVerdict::State::wrong:
      return "wrong";
    case ServerVerdict::State::unreachable:
      return "unreachable";
  }
  return "?";
}

const char* status_name(int code) {
  static const char* names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
  return code >= 0 && code <= 3 ? names[code] : "UNKNOWN";
}

struct Counts {
  int servers = 0, current = 0, wrong = 0, unreachable = 0, stale = 0, clash = 0;
};

Counts count(const CheckReport& r, std::vector<ServerVerdict>* verdicts) {
  Counts c;
  for (const auto& s : r.run.servers) {
    verdicts->push_back(judge_server(s, r.run.endpoint, r.listed));
    ++c.servers;
    switch (verdicts->back().state) {
      case ServerVerdict::State::ok:
        ++c.current;
        break;
      case ServerVerdict::State::stale:
        ++(verdicts->back().clash ? c.clash : c.stale);
        break;
      case ServerVerdict::State::wrong:
        ++c.wrong;
        break;
      case ServerVerdict::State::unreachable:
        ++c.unreachable;
        break;
    }
  }
  return c;
}

int status_of(const CheckReport& r, const Counts& c) {
  if (r.timed_out) return kCheckUnknown;
  // A stale primary that accepts writes (cluster/fence) is CRITICAL whatever PgBouncer does:
  // clients that connect to it directly write to a superseded node. Fenced, it is a WARNING.
  if (r.run.stale_writable > 0 || !r.run.newer_truth.empty()) return kCheckCritical;
  if (!r.run.refusal.empty()) return r.database_failed ? kCheckUnknown : kCheckCritical;
  int critical = r.thresholds.critical_unreachable > 0 ? r.thresholds.critical_unreachable : c.servers;
  if (c.wrong > 0 || (c.unreachable > 0 && c.unreachable >= critical)) return kCheckCritical;
  if (c.stale > 0 || c.clash > 0 || c.unreachable >= std::max(1, r.thresholds.warning_unreachable) ||
      !r.run.stale.empty())
    return kCheckWarning;
  return kCheckOk;
}

std::string node_name(const CheckReport& r, const std::string& address) {
  auto it = r.node_names.find(address);
  return it == r.node_names.end() ? address : it->second;
}

std::string plural(int n, const char* one, const char* many) { return n == 1 ? one : many; }

std::string summary(const CheckReport& r, const Counts& c, const std::vector<ServerVerdict>& v, int code) {
  std::string of = " of " + std::to_string(c.servers) + " app servers ";
  if (r.timed_out) return "the check did not finish within its --deadline";
  std::string stale;
  if (!r.run.stale.empty())
    stale = std::to_string(r.run.stale.size()) + " stale " +
            plural(static_cast<int>(r.run.stale.size()), "primary", "primaries") +
            (r.run.stale_writable > 0 ? ", " + std::to_string(r.run.stale_writable) + " accepting writes"
                                      : ", fenced") +
            "; ";
  if (!r.run.newer_truth.empty()) stale += "newer truth: " + r.run.newer_truth + "; ";
  if (!r.run.refusal.empty())
    return (r.database_failed ? "" : "the primary cannot be proven: ") + r.run.refusal;
  std::vector<std::string> parts;
  if (c.wrong > 0) {
    std::vector<std::string> to;
    bool routes = false;
    for (const auto& s : v) {
      for (const auto& a : s.wrong_to) add_once(&to, node_name(r, a));
      routes = routes || s.routes_wrong;
    }
    std::string list;
    for (const auto& n : to) list += (list.empty() ? "" : ", ") + n;
    parts.push_back(std::to_string(c.wrong) + of +
                    (routes ? plural(c.wrong, "routes to ", "route to ")
                            : plural(c.wrong, "holds sessions on ", "hold sessions on ")) +
                    (list.empty() ? "nothing of ours" : list));
  }
  if (c.unreachable > 0)
    parts.push_back(std::to_string(c.unreachable) + (parts.empty() ? of : " ") + "unreachable");
  if (c.stale > 0)
    parts.push_back(std::to_string(c.stale) + (parts.empty() ? of : " ") +
                    "with stale files or a reload pending");
  if (c.clash > 0)
    parts.push_back(std::to_string(c.clash) + (parts.empty() ? of : " ") +
                    "with a name another cluster has first on the same PgBouncer");
  if (code == kCheckOk)
    return std::to_string(c.current) + of.substr(0, of.size() - 1) + " route to " + r.run.primary + " at " +
           address_of(r.run.endpoint) + ", files current";
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  // The servers first: a stale primary is in a line of its own below, and leads the status
  // line only when it is all there is.
  return out.empty() && !stale.empty() ? stale.substr(0, stale.size() - 2) : out;
}

// A line of the check's output after the first: every value in it escaped (util/text), `|` too,
// which Nagios takes for the start of performance data on any line of the long output.
std::string line(const std::string& text) { return escape_text(text, Escape::monitoring) + "\n"; }

std::string verdict_line(const ServerReport& s, const ServerVerdict& v) {
  std::string out = server_label(s.server) + ": ";
  if (v.state == ServerVerdict::State::ok) out += "OK";
  else
    out += std::string(v.state == ServerVerdict::State::wrong   ? "WRONG"
                       : v.state == ServerVerdict::State::stale ? "STALE"
                                                                : "UNREACHABLE");
  std::string why;
  for (const auto& w : v.why) why += (why.empty() ? "" : "; ") + w;
  if (!why.empty()) out += " " + why;
  if (v.files_only && v.state != ServerVerdict::State::unreachable)
    out += " (routing judged from its files only: no admin_conninfo)";
  return line(out);
}

}  // namespace

std::map<std::string, std::string> include_routes(const std::string& include) {
  std::map<std::string, std::string> routes;
  std::istringstream in(include);
  for (std::string line; std::getline(in, line);) {
    size_t text = line.find_first_not_of(" \t");
    if (text == std::string::npos || line[text] == ';' || line[text] == '#' || line[text] == '[') continue;
    size_t eq = line.find(" = ");
    if (eq == std::string::npos) eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string name = line.substr(text, eq - text);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
    std::string host = "(unix socket)", port = "5432";  // PgBouncer's defaults
    std::istringstream words(line.substr(line.find('=', eq) + 1));
    for (std::string w; words >> w;) {
      auto value = [&w](size_t at) {
        std::string v = w.substr(at);
        return v.size() >= 2 && v.front() == '\'' && v.back() == '\'' ? v.substr(1, v.size() - 2) : v;
      };
      if (w.rfind("host=", 0) == 0) host = value(5);
      else if (w.rfind("port=", 0) == 0) port = value(5);
    }
    routes[name] = host + ":" + port;
  }
  return routes;
}

ServerVerdict judge_server(const ServerReport& s, const Endpoint& primary,
                           const std::vector<std::string>& listed) {
  ServerVerdict v;
  const CheckAnswer& a = s.check;
  // Several processes: those that answered are judged, and each that did not is named.
  bool some_answered = a.console == "ok" || std::any_of(a.processes.begin(), a.processes.end(),
                                                        [](const auto& p) { return p.console == "ok"; });
  v.files_only = !some_answered;
  if (s.result == ServerReport::Result::failed) {
    v.state = ServerVerdict::State::unreachable;
    v.why.push_back(s.error);
    return v;
  }
  if (a.console.rfind("failed", 0) == 0 && !some_answered) {
    v.state = ServerVerdict::State::unreachable;
    v.why.push_back("PgBouncer's admin console cannot be asked: " +
                    a.console.substr(std::min(a.console.size(), size_t{8})));
    return v;
  }
  std::string target = address_of(primary);
  auto wrong = [&](const std::string& why, const std::string& to, bool route) {
    v.state = ServerVerdict::State::wrong;
    v.why.push_back(why);
    add_once(&v.wrong_to, to);
    v.routes_wrong = v.routes_wrong || route;
  };
  // Another cluster on the same PgBouncer has these first (push.pl leaves them out of ours). Not
  // CRITICAL: PgBouncer routes as it did, and no deploy can change that; a WARNING until the names
  // are told apart (--exclude-databases, --db-prefix) or the role's secrets agree. postgres and
  // repmgr, which every cluster has, are the first cluster's by design (docs/setup.md).
  std::set<std::string> left_out;
  for (const auto& c : a.clashes) {
    if (c.kind == "database") left_out.insert(c.name);
    if (c.kind == "database" && (c.name == "postgres" || c.name == "repmgr")) continue;
    v.why.push_back(c.kind + " " + c.name + ": cluster " + c.cluster +
                    (c.kind == "database"
                         ? " routes it on this PgBouncer first; left out here"
                         : " defines it with another secret; left out of userlist.txt here"));
    v.clash = true;
    if (v.state == ServerVerdict::State::ok) v.state = ServerVerdict::State::stale;
  }
  if (!v.files_only) {
    auto bouncer = [](const std::string& process) {
      return process.empty() ? std::string("PgBouncer") : "PgBouncer at " + process;
    };
    // The one console, or each process that answered.
    std::vector<CheckAnswer::Process> answered;
    for (const auto& p : a.processes)
      if (p.console == "ok") answered.push_back(p);
    if (a.processes.empty()) answered.push_back({"", a.console, a.routes, a.servers});
    for (const auto& p : answered) {
      std::set<std::string> routed;
      for (const auto& r : p.routes) {
        routed.insert(r.database);
        if (r.address != target)
          wrong(bouncer(p.dir) + " routes " + r.database + " to " + r.address, r.address, true);
      }
      for (const auto& c : p.servers)
        wrong(bouncer(p.dir) + " holds a server connection for " + c.database + " to " + c.address, c.address,
              false);
      for (const auto& db : listed)
        if (!routed.count(db) && !left_out.count(db)) {
          if (v.state == ServerVerdict::State::ok) v.state = ServerVerdict::State::stale;
          v.why.push_back(bouncer(p.dir) + " does not route " + db + " (not reloaded since it was added?)");
        }
    }
    // A process that cannot be asked may route anywhere: as a server that cannot be asked.
    for (const auto& p : a.processes)
      if (p.console != "ok") {
        if (v.state != ServerVerdict::State::wrong) v.state = ServerVerdict::State::unreachable;
        v.why.push_back("the admin console of PgBouncer at " + p.dir +
                        " cannot be asked: " + p.console.substr(p.console.rfind("failed: ", 0) == 0 ? 8 : 0));
      }
  } else {
    // The include file comes first in every request (deploy/request: build_request).
    if (!a.files.empty() && a.files[0].state == "missing")
      wrong("no include file " + a.files[0].path, "nothing", true);
    if (a.has_include)
      for (const auto& [db, address] : include_routes(a.include))
        if (address != target) wrong("the include file routes " + db + " to " + address, address, true);
  }
  // A PgBouncer nobody asked may route anywhere; /proc named it, which is a hint, not proof.
  for (const auto& u : a.unlisted) {
    if (v.state == ServerVerdict::State::ok) v.state = ServerVerdict::State::stale;
    v.why.push_back("PgBouncer process " + u + " is not asked (list its unix_socket_dir in admin_sockets)");
  }
  bool files_stale = false;
  for (const auto& f : a.files)
    if (f.state != "current") {
      v.why.push_back(base_name(f.path) + " " + f.state);
      files_stale = true;
    }
  if (!a.pending.empty()) {
    v.why.push_back("a reload is pending (" + a.pending + ")");
    files_stale = true;
  }
  if (files_stale && v.state == ServerVerdict::State::ok) v.state = ServerVerdict::State::stale;
  return v;
}

int check_status(const CheckReport& r) {
  std::vector<ServerVerdict> v;
  return status_of(r, count(r, &v));
}

std::string format_check_text(const CheckReport& r) {
  std::vector<ServerVerdict> v;
  Counts c = count(r, &v);
  int code = status_of(r, c);
  char perf[160];
  std::snprintf(perf, sizeof perf, " | servers=%d current=%d wrong=%d unreachable=%d stale=%d", c.servers,
                c.current, c.wrong, c.unreachable, c.stale);
  // The status line: the summary names nodes, the primary and what app servers answered
  // (escaped, `|` too); only our own perfdata follows a `|`.
  std::string out = std::string("PGDEPLOY ") + status_name(code) + " - " +
                    escape_text(summary(r, c, v, code), Escape::monitoring) + perf + "\n";
  for (size_t i = 0; i < v.size(); ++i)
    if (r.verbose || v[i].state != ServerVerdict::State::ok) out += verdict_line(r.run.servers[i], v[i]);
  for (const auto& st : r.run.stale) out += line("stale primary: " + st);
  if (!r.run.newer_truth.empty()) out += line("newer truth: " + r.run.newer_truth);
  if (r.verbose || !r.run.refusal.empty() || !r.run.stale.empty())
    for (const auto& seen : r.run.seen) out += line("node: " + seen);
  for (const auto& w : r.run.warnings) out += line("warning: " + w);
  if (!r.watcher.empty())
    out += line("watcher on this node: " + r.watcher +
                (r.by_watcher ? " (it ran this check over its warm sessions)" : ""));
  return out;
}

std::string format_check_json(const CheckReport& r) {
  std::vector<ServerVerdict> v;
  Counts c = count(r, &v);
  int code = status_of(r, c);
  nlohmann::json j;
  j["cluster"] = r.run.cluster;
  j["status"] = status_name(code);
  j["exit_code"] = code;
  j["summary"] = summary(r, c, v, code);
  j["counts"] = {{"servers", c.servers},
                 {"current", c.current},
                 {"wrong", c.wrong},
                 {"unreachable", c.unreachable},
                 {"stale", c.stale}};
  j["seconds"] = r.run.seconds;
  if (!r.run.refusal.empty()) j["refused"] = r.run.refusal;
  if (r.timed_out) j["timed_out"] = true;
  j["nodes"] = r.run.seen;
  j["stale_primaries"] = r.run.stale;
  if (!r.run.newer_truth.empty()) j["newer_truth"] = r.run.newer_truth;
  if (!r.watcher.empty()) j["watcher"] = r.watcher;
  j["asked_by"] = r.by_watcher ? "watcher" : "ssh";
  j["warnings"] = r.run.warnings;
  if (r.run.refusal.empty())
    j["primary"] = {{"node", r.run.primary},
                    {"host", r.run.endpoint.host},
                    {"port", r.run.endpoint.port},
                    {"timeline", r.run.timeline}};
  j["servers"] = nlohmann::json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const ServerReport& s = r.run.servers[i];
    const CheckAnswer& a = s.check;
    nlohmann::json e = {{"name", s.server.name},
                        {"address", s.server.address},
                        {"application_name", s.server.application_name},
                        {"state", state_name(v[i].state)},
                        {"why", v[i].why},
                        {"wrong_to", v[i].wrong_to},
                        {"files_only", v[i].files_only},
                        {"seconds", s.seconds}};
    if (!s.error.empty()) e["error"] = s.error;
    if (!s.note.empty()) e["note"] = s.note;
    if (s.result != ServerReport::Result::failed) {
      e["files"] = nlohmann::json::array();
      for (const auto& f : a.files) e["files"].push_back({{"path", f.path}, {"state", f.state}});
      if (a.has_header)
        e["header"] = {{"primary", a.header_primary},
                       {"timeline", a.header_timeline},
                       {"generation", a.header_generation}};
      e["pending"] = a.pending;
      e["console"] = a.console;
      e["pgbouncer_version"] = a.pgbouncer_version.text();
      e["routes"] = nlohmann::json::object();
      for (const auto& x : a.routes) e["routes"][x.database] = x.address;
      e["server_connections_elsewhere"] = nlohmann::json::array();
      for (const auto& x : a.servers)
        e["server_connections_elsewhere"].push_back({{"database", x.database}, {"address", x.address}});
      e["users"] = {{"added", a.users_added}, {"removed", a.users_removed}, {"changed", a.users_changed}};
      // Several PgBouncer processes (admin_sockets): each one's own facts.
      for (const auto& p : a.processes) {
        nlohmann::json one = {
            {"socket_dir", p.dir}, {"console", p.console}, {"routes", nlohmann::json::object()}};
        for (const auto& x : p.routes) one["routes"][x.database] = x.address;
        one["server_connections_elsewhere"] = nlohmann::json::array();
        for (const auto& x : p.servers)
          one["server_connections_elsewhere"].push_back({{"database", x.database}, {"address", x.address}});
        e["processes"].push_back(one);
      }
      if (!a.unlisted.empty()) e["unlisted_processes"] = a.unlisted;
    }
    j["servers"].push_back(e);
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace pgdeploy
