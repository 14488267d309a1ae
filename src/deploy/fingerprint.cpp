#include "deploy/fingerprint.h"

namespace pgdeploy {

std::string deploy_fingerprint(const std::vector<AppServer>& servers, const Rendered& files,
                               const DeployConfig& config) {
  std::string all = files.token.cluster + "|" + std::to_string(files.token.primary_id) + "|" +
                    std::to_string(files.token.timeline) + "|" + files.userlist.digest + "|" +
                    files.pgpass.digest + "|" + config.include_dir + "|" + config.userlist + "|" +
                    config.pgpass + "|" + config.reload_command + "|" + (config.force ? "f" : "") + "|" +
                    std::to_string(static_cast<int>(config.auth));
  for (const auto& [app, file] : files.includes) all += "|" + app + "=" + file.digest;
  // Only where some server's PgBouncer has other limits: else the bytes it had before.
  for (const auto& [address, i] : files.other_of)
    all += "|" + address + "=" + files.other_limits[i].userlist.digest;
  for (const AppServer& s : servers) {
    append_row(&all, s);
    all.append(",").append(s.auth ? std::to_string(static_cast<int>(*s.auth)) : "-");
  }
  return digest_of(all);
}

void append_row(std::string* out, const AppServer& s) {
  // Appended piece by piece, not as "|" + std::to_string(...) + ...: for that, g++ 12 at -O3
  // reports a false -Wrestrict inside std::string (GCC bug 105329).
  out->append("|")
      .append(std::to_string(s.id))
      .append(",")
      .append(s.address)
      .append(",")
      .append(s.user)
      .append(",")
      .append(s.application_name)
      .append(s.auth_trust ? ",t," : ",f,")
      .append(s.admin_conninfo);
  // Only where set: a row without it keeps the bytes it had before the column existed.
  if (!s.admin_sockets.empty()) out->append(",sockets=").append(s.admin_sockets);
}

}  // namespace pgdeploy
