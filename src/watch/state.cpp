#include "watch/state.h"

#include <algorithm>
#include <cmath>

namespace pgdeploy {

const char* state_name(ServerState state) {
  switch (state) {
    case ServerState::current: return "current";
    case ServerState::updated: return "updated";
    case ServerState::newer: return "newer";
    case ServerState::unreachable: return "unreachable";
    case ServerState::refused: return "refused";
    case ServerState::failed: return "failed";
  }
  return "failed";
}

ServerState state_of(const ServerReport& r) {
  switch (r.result) {
    case ServerReport::Result::updated: return ServerState::updated;
    case ServerReport::Result::unchanged: return ServerState::current;
    case ServerReport::Result::skipped_newer: return ServerState::newer;
    case ServerReport::Result::failed: break;
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

}  // namespace pgdeploy
