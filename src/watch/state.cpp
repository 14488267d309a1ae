#include "watch/state.h"

#include <algorithm>
#include <cmath>

namespace pgdeploy {

const char* state_name(ServerState state) {
  switch (state) {
    case ServerState::current:
      return "current";
    case ServerState::updated:
      return "updated";
    case ServerState::newer:
      return "newer";
    case ServerState::unreachable:
      return "unreachable";
    case ServerState::refused:
      return "refused";
    case ServerState::failed:
      return "failed";
  }
  return "failed";
}

ServerState state_of(const ServerReport& r) {
  switch (r.result) {
    case ServerReport::Result::updated:
      return ServerState::updated;
    case ServerReport::Result::unchanged:
      return ServerState::current;
    case ServerReport::Result::skipped_newer:
      return ServerState::newer;
    case ServerReport::Result::failed:
      break;
  }
  // The failed stage is the error's first word (remote/remote.h: ExecResult::stage).
  std::string stage = r.error.substr(0, r.error.find(':'));
  if (stage == "host key" || stage == "auth") return ServerState::refused;
  if (stage == "connect" || stage == "handshake" || stage == "timeout" || stage == "exec")
    return ServerState::unreachable;
  return ServerState::failed;
}

double retry_delay(int failures, ServerState state, double interval, bool slow) {
  if (failures <= 0) return 0;
  if (state == ServerState::refused) return std::min(600.0, 60.0 * std::pow(2.0, failures - 1));
  if (slow) return std::min(60.0, interval * std::pow(2.0, failures - 1));
  if (state == ServerState::unreachable || failures <= 2) return 0;
  return std::min(60.0, interval * std::pow(2.0, failures - 2));
}

bool Changes::changed(const std::string& subject, const std::string& state) {
  auto [it, fresh] = last_.emplace(subject, state);
  if (fresh) return true;
  if (it->second == state) return false;
  it->second = state;
  return true;
}

std::vector<std::string> fresh_warnings(const std::vector<std::string>& warnings,
                                        std::set<std::string>* said) {
  std::vector<std::string> fresh;
  for (const auto& w : warnings)
    if (!said->count(w)) fresh.push_back(w);
  *said = std::set<std::string>(warnings.begin(), warnings.end());
  return fresh;
}

double users_every(double interval) { return std::max(interval, 10.0); }

double UsersPace::wait(const std::string& routes, const std::string& users, double now, double every) const {
  if (!known_ || routes != routes_ || users == users_) return 0;
  return std::max(0.0, users_at_ + every - now);
}

void UsersPace::sent(const std::string& routes, const std::string& users, double now, bool updated) {
  if (updated && known_ && routes == routes_ && users != users_) users_at_ = now;
  known_ = true;
  routes_ = routes;
  users_ = users;
}

void VersionMemory::learn(const std::vector<ServerReport>& reports) {
  for (const ServerReport& r : reports)
    if (r.pgbouncer_version.known()) versions_[r.server.address] = r.pgbouncer_version;
}

ServerLimits VersionMemory::limits() const {
  ServerLimits out;
  for (const auto& [address, version] : versions_) out[address] = limits_of(version);
  return out;
}

}  // namespace pgdeploy
