// repmgr's event_notification_command placeholders: which events warrant a deploy. Pure logic.
#pragma once

#include <string>
#include <vector>

namespace pgdeploy {

struct EventInfo {
  std::string event;    // %e; "" = called without --event: deploy, as the original tool did
  std::string success;  // %s: "1" or "0"; "" = not given
};

// The promote, failover, switchover and follow events of repmgr 3, 4 and 5.
const std::vector<std::string>& default_deploy_events();

// "" when the agent should deploy, else one line saying why it does nothing.
std::string skip_reason(const EventInfo& info, const std::vector<std::string>& deploy_events);

}  // namespace pgdeploy
