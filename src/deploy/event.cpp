#include "deploy/event.h"

#include <algorithm>

namespace pgdeploy {

std::string skip_reason(const EventInfo& info, const std::vector<std::string>& deploy_events) {
  if (info.event.empty()) return "";
  if (info.success == "0") return "event " + info.event + " failed (success=0): nothing to do";
  bool all = std::find(deploy_events.begin(), deploy_events.end(), "all") != deploy_events.end();
  if (!all && std::find(deploy_events.begin(), deploy_events.end(), info.event) == deploy_events.end())
    return "event " + info.event + " does not change the primary: nothing to do";
  return "";
}

}  // namespace pgdeploy
