// repmgr's event_notification_command placeholders: which events warrant a deploy. Pure logic.
#pragma once

#include <string>
#include <vector>

namespace pgdeploy {

struct EventInfo {
  std::string event;    // %e; "" = called without --event: deploy, as the original tool did
  std::string success;  // %s: "1" or "0"; "" = not given
};

// "" when the agent should deploy, else one line saying why it does nothing. `deploy_events`
// holds event names, or "all" (the default list is the command line's: cli/options).
std::string skip_reason(const EventInfo& info, const std::vector<std::string>& deploy_events);

}  // namespace pgdeploy
