#include "deploy/request.h"

#include "pg/conninfo.h"
#include "pgbouncer/console.h"

namespace pgdeploy {

bool build_request(const AppServer& server, const Rendered& files, const DeployConfig& config,
                   PushRequest* out, std::string* err, const std::map<std::string, std::string>* held) {
  PushRequest req;
  req.mode = config.mode;
  auto add = [&](const std::string& path, const TokenedFile& file, bool reload, bool fence, bool shared) {
    bool head_only = false;
    if (held && !file.digest.empty()) {
      auto kept = held->find(path);
      head_only = kept != held->end() && kept->second == file.digest;
    }
    req.files.push_back(RemoteFile{path,
                                   head_only ? file.content.substr(0, file.content.find('\n')) : file.content,
                                   file.digest, reload, fence, shared, head_only});
  };
  std::string include = config.include_dir + "/" + config.cluster + ".ini";
  add(include, files.includes.at(server.application_name), true, true, false);
  if (server.auth.value_or(config.auth) == AuthMode::file)  // else userlist.txt is not ours
    add(config.userlist, files.userlist_for(server), true, false, true);
  if (!server.auth_trust && !files.pgpass.content.empty())
    add(config.pgpass, files.pgpass, false, false, true);
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
    ConnOptions options;
    SocketLogin login;
    if (parse_conninfo(server.admin_conninfo, &options, err) && socket_login_of(options, &login)) {
      req.socket_path = login.path;
      req.socket_user = login.user;
      req.socket_db = login.dbname;
    }
    if (!socket_dirs_of(server.admin_sockets, &req.console_dirs, err)) return false;
    req.drain = config.drain_sessions;
    req.pause_seconds = pause_seconds(config.pause_wait_seconds, config.host_timeout);
  }
  if (!req.console && !server.admin_sockets.empty()) {
    *err = "admin_sockets needs admin_conninfo: the login to each PgBouncer process's console";
    return false;
  }
  req.reload_command = config.reload_command.empty() ? default_reload_command(server.user, req.console)
                                                     : config.reload_command;
  if (std::string why = check_request(req); !why.empty()) {
    *err = why;
    return false;
  }
  *out = std::move(req);
  return true;
}

}  // namespace pgdeploy
