#include "watch/handover.h"

#include "agent/check.h"

namespace pgdeploy {

std::string Handover::take(const HookRequest& request, HandoffServer::Reply reply) {
  // Any node's watcher runs a check, if it would ask what the check asks, and not while a round
  // or another check is under way (a slow one would hold the check up): the check then asks
  // over new logins.
  if (request.ask == HookRequest::Ask::check) {
    Check c{std::move(reply), opts_, answer_within(request)};
    std::string why;
    if (!check_options_from(request.line, opts_, &c.opts, &why)) return why;
    c.opts.json = request.json;
    std::lock_guard<std::mutex> guard(mu_);
    if (in_round_ || checking_) return in_round_ ? "a round is under way" : "a check is under way";
    checks_.push_back(std::move(c));
    wake_();
    return "";
  }
  if (!accepting_)
    return "this node's watcher does not push (another node is the proven primary, or none is)";
  {
    std::lock_guard<std::mutex> guard(mu_);
    // A check under way would hold the hook's round up: the hook does the one-shot itself.
    if (checking_) return "this node's watcher is running a check";
    hooks_.push_back({request, std::move(reply), answer_within(request)});
  }
  log_("a hook handed over " + request.line);
  cut_();   // a round under way ends now (its hung servers too): the hook's round starts at once
  wake_();  // ends the wait between rounds
  return "";
}

std::vector<Handover::Hook> Handover::begin_round() {
  in_round_ = true;
  std::vector<Hook> hooks;
  {
    std::lock_guard<std::mutex> guard(mu_);
    hooks.swap(hooks_);
  }
  if (!hooks.empty()) uncut_();  // this round is theirs
  std::erase_if(hooks, [](Hook& h) {
    if (!h.within.expired()) return false;
    h.reply({-1, false, ""});
    return true;
  });
  return hooks;
}

void Handover::end_round(std::vector<Hook>& hooks, bool ours, const RunReport& report) {
  for (auto& h : hooks) {
    if (!ours) {
      h.reply({-1, false, ""});  // not ours after all: the hook does the one-shot
      continue;
    }
    int code = exit_code(report);
    h.reply({code, code == kExitRefused, h.request.json ? format_json(report) : format_text(report)});
  }
  in_round_ = false;
}

bool Handover::answer_checks(const std::function<void(Check&)>& answer) {
  std::vector<Check> checks;
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (!hooks_.empty()) return true;
    checks.swap(checks_);
    checking_ = !checks.empty();
  }
  for (auto& c : checks) answer(c);
  std::lock_guard<std::mutex> guard(mu_);
  checking_ = false;
  return !hooks_.empty();
}

}  // namespace pgdeploy
