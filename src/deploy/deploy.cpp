#include "deploy/deploy.h"

#include <algorithm>

#include "render/pgbouncer.h"
#include "util/diff.h"

namespace pgdeploy {

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass) {
  Rendered r;
  r.token = token;
  for (const AppServer& s : facts.servers) {
    if (r.includes.count(s.application_name)) continue;
    std::vector<std::string> skipped;
    std::string body = render_databases(primary, facts.databases, s.application_name, &skipped);
    r.includes[s.application_name] = with_header(';', token, body);
    for (auto& k : skipped)
      if (std::find(r.skipped.begin(), r.skipped.end(), k) == r.skipped.end()) r.skipped.push_back(k);
  }
  r.userlist = with_header(';', token, render_userlist(facts.users, &r.skipped));
  if (!local_pgpass.empty()) r.pgpass = with_header('#', token, local_pgpass);
  r.primary = primary;
  for (const auto& db : facts.databases) {
    RouteKind kind = route_kind(db);
    std::string on_console;
    if (kind != RouteKind::none && !console_name(db, &on_console))
      r.skipped.push_back("database " + db + " (routed, but its name is too long for PgBouncer's "
                          "admin console: its sessions cannot be cut or drained there)");
    else if (kind == RouteKind::own_line) r.listed.push_back(db);
    else if (kind == RouteKind::fallback) r.fallback.push_back(db);
  }
  return r;
}

namespace {

RemoteFile remote_file(const std::string& path, const TokenedFile& file, bool reload, bool fence) {
  return RemoteFile{path, file.content, file.digest, reload, fence};
}

}  // namespace

bool build_request(const AppServer& server, const Rendered& files, const DeployConfig& config,
                   PushRequest* out, std::string* err) {
  PushRequest req;
  req.mode = config.mode;
  std::string include = config.include_dir + "/" + config.cluster + ".ini";
  req.files.push_back(remote_file(include, files.includes.at(server.application_name), true, true));
  req.files.push_back(remote_file(config.userlist, files.userlist, true, false));
  if (!server.auth_trust && !files.pgpass.content.empty())
    req.files.push_back(remote_file(config.pgpass, files.pgpass, false, false));
  req.lock_path = config.include_dir + "/." + config.cluster + ".lock";
  req.timeline = files.token.timeline;
  req.generation = files.token.generation;
  req.primary_id = files.token.primary_id;
  req.force = config.force;
  req.target_host = files.primary.host;
  req.target_port = files.primary.port;
  req.listed_databases = files.listed;
  req.auto_databases = files.fallback;
  if (!server.admin_conninfo.empty()) {
    req.console = true;
    if (!conninfo_env(server.admin_conninfo, &req.console_env, err)) {
      *err = "admin_conninfo: " + *err;
      return false;
    }
    SocketLogin login;
    if (socket_login_of(server.admin_conninfo, &login)) {
      req.socket_path = login.path;
      req.socket_user = login.user;
      req.socket_db = login.dbname;
    }
    req.drain = config.drain_sessions;
    req.pause_seconds =
        std::max(1, std::min(config.pause_wait_seconds, static_cast<int>(config.host_timeout / 2)));
  }
  if (!config.reload_command.empty()) req.reload_command = config.reload_command;
  else if (server.admin_conninfo.empty())
    req.reload_command = server.user == "root" ? "service pgbouncer reload"
                                               : "sudo -n service pgbouncer reload";
  if (std::string why = check_request(req); !why.empty()) {
    *err = why;
    return false;
  }
  *out = std::move(req);
  return true;
}

std::string deploy_fingerprint(const std::vector<AppServer>& servers, const Rendered& files,
                               const DeployConfig& config) {
  std::string all = files.token.cluster + "|" + std::to_string(files.token.primary_id) + "|" +
                    std::to_string(files.token.timeline) + "|" + files.userlist.digest + "|" +
                    files.pgpass.digest + "|" + config.include_dir + "|" + config.userlist + "|" +
                    config.pgpass + "|" + config.reload_command + "|" + (config.force ? "f" : "");
  for (const auto& [app, file] : files.includes) all += "|" + app + "=" + file.digest;
  // Appended piece by piece, not as "|" + std::to_string(...) + ...: for that, g++ 12 at -O3
  // reports a false -Wrestrict inside std::string (GCC bug 105329).
  for (const AppServer& s : servers)
    all.append("|").append(std::to_string(s.id)).append(",").append(s.address).append(",")
        .append(s.user).append(",").append(s.application_name).append(s.auth_trust ? ",t," : ",f,")
        .append(s.admin_conninfo);
  return digest_of(all);
}

namespace {
constexpr int kAnswerMarginMs = 500;
}  // namespace

ServerReport push_to(const AppServer& server, const Rendered& files, const DeployConfig& config,
                     const Send& send, const Deadline& deadline) {
  ServerReport rep;
  rep.server = server;
  PushRequest req;
  std::string why;
  if (!build_request(server, files, config, &req, &why)) {
    rep.error = "config: " + why;
    return rep;
  }
  // The program's waits (lock, console) end before ours, so that its answer can still arrive.
  req.budget_ms = std::max(0, deadline.remaining_ms() - kAnswerMarginMs);
  ExecResult x = send(req, deadline);
  rep.note = x.note;
  if (!x.ok) {
    rep.error = x.stage + ": " + x.error;
    return rep;
  }
  if (req.mode == PushRequest::Mode::check) {
    rep.check = parse_check_output(x.exit_status, x.out, x.err);
    rep.result = rep.check.ok ? ServerReport::Result::unchanged : ServerReport::Result::failed;
    if (!rep.check.ok) rep.error = "remote: " + rep.check.error;
    for (const auto& n : rep.check.notes) rep.note += (rep.note.empty() ? "" : "; ") + n;
    // A newer token there: a deploy would leave the server alone (push.pl's NEWER).
    const CheckAnswer& a = rep.check;
    bool newer = a.has_header && !config.force &&
                 (a.header_timeline > files.token.timeline ||
                  (a.header_timeline == files.token.timeline && a.header_generation > files.token.generation));
    if (newer)
      rep.note += std::string(rep.note.empty() ? "" : "; ") + "a newer config is there (primary " +
                  std::to_string(a.header_primary) + ", timeline " + std::to_string(a.header_timeline) +
                  "): a deploy would leave it alone";
    for (const auto& f : rep.check.files)
      if (f.state != "current" && !newer) rep.changed.push_back(f.path);
    const RemoteFile& include = req.files.front();  // what a deploy would write
    if (rep.check.ok && std::find(rep.changed.begin(), rep.changed.end(), include.path) != rep.changed.end())
      rep.diff = unified_diff(rep.check.include, include.content, server.address + ":" + include.path,
                              include.path + " (as a deploy would write it)");
    return rep;
  }
  PushOutcome o = parse_push_output(x.exit_status, x.out, x.err);
  rep.changed = o.changed;
  rep.reloaded = o.reloaded;
  rep.sessions = o.sessions;
  rep.confirmed = o.confirmed;
  for (const auto& n : o.notes) rep.note += (rep.note.empty() ? "" : "; ") + n;
  switch (o.status) {
    case PushOutcome::Status::written: rep.result = ServerReport::Result::updated; break;
    case PushOutcome::Status::unchanged: rep.result = ServerReport::Result::unchanged; break;
    case PushOutcome::Status::skipped_newer:
      rep.result = ServerReport::Result::skipped_newer;
      rep.error = "newer config present: " + o.detail;
      break;
    case PushOutcome::Status::failed:
      rep.result = ServerReport::Result::failed;
      rep.error = "remote: " + o.detail;
      break;
  }
  return rep;
}

Deployment::Deployment(std::vector<AppServer> servers, int parallel, double host_timeout,
                       Remote& remote, const Deadline& run_deadline)
    : servers_(std::move(servers)),
      host_timeout_(host_timeout),
      remote_(remote),
      run_deadline_(run_deadline),
      reports_(servers_.size()) {
  size_t n = std::min(servers_.size(), static_cast<size_t>(std::max(1, parallel)));
  for (size_t t = 0; t < n; ++t) pool_.emplace_back([this] { work(); });
}

Deployment::~Deployment() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    decided_ = true;
  }
  go_.notify_all();
  for (auto& t : pool_) t.join();
}

std::vector<ServerReport> Deployment::push(const Rendered& files, const DeployConfig& config) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_ = &files;
    config_ = &config;
    decided_ = true;
  }
  go_.notify_all();
  for (auto& t : pool_) t.join();
  pool_.clear();
  return reports_;
}

void Deployment::work() {
  for (size_t i; (i = next_++) < servers_.size();) {
    ServerReport& rep = reports_[i];
    rep.server = servers_[i];
    if (run_deadline_.expired()) {
      rep.error = "not attempted: the run's deadline had passed";
      continue;
    }
    if (servers_[i].address.empty()) {
      rep.error = "config: ip_addr is empty";
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (decided_ && !files_) return;  // dropped
    }
    // The server's own time counts against --host-timeout; waiting for the proof does not.
    auto start = Clock::now();
    auto login = remote_.login(servers_[i], Deadline::after(host_timeout_).min(run_deadline_));
    double login_seconds = seconds_since(start);
    {
      std::unique_lock<std::mutex> lock(mu_);
      go_.wait(lock, [this] { return decided_; });
      if (!files_) return;  // dropped: log out, start no more logins
    }
    if (!login->failed.stage.empty()) {
      rep.note = login->failed.note;
      rep.error = login->failed.stage + ": " + login->failed.error;
    } else {
      auto pushed = Clock::now();
      auto send = [&](const PushRequest& req, const Deadline& deadline) {
        return remote_.run(*login, push_command(req), push_payload(req), deadline);
      };
      rep = push_to(servers_[i], *files_, *config_, send,
                    Deadline::after(std::max(0.0, host_timeout_ - login_seconds)).min(run_deadline_));
      rep.seconds = seconds_since(pushed);
    }
    rep.seconds += login_seconds;
  }
}

std::vector<ServerReport> deploy_all(const std::vector<AppServer>& servers, const Rendered& files,
                                     const DeployConfig& config, Remote& remote,
                                     const Deadline& run_deadline) {
  return Deployment(servers, config.parallel, config.host_timeout, remote, run_deadline)
      .push(files, config);
}

}  // namespace pgdeploy
