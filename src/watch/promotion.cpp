#include "watch/promotion.h"

#include <chrono>

namespace pgdeploy {

bool Promotion::hurrying() const {
  return !pushed_ && writable_since_ != Clock::time_point{} &&
         now_() - writable_since_ < std::chrono::duration<double>(kHurryFor);
}

bool Promotion::hurry() {
  if (pushed_) {
    writable_since_ = {};
    return false;
  }
  std::string why;
  bool writable = false;
  if (!db_.self_writable(&writable, Deadline::after(0.5), &why)) return false;
  if (!writable) {
    writable_since_ = {};
    accept_(false);
    return false;
  }
  if (writable_since_ == Clock::time_point{}) {
    writable_since_ = now_();
    accept_(true);
    log_("this node is writable and its watcher does not push yet: rounds at once for up to " +
         std::to_string(static_cast<int>(kHurryFor)) + " s");
  }
  return hurrying();
}

bool Promotion::round_ended(bool pushed) {
  pushed_ = pushed;
  return pushed || writable_since_ != Clock::time_point{};
}

void Warming::keep_warm(const std::vector<AppServer>& servers, Remote& remote, const Deadline& deadline) {
  if (pings_.valid() && !warmed(0)) return;
  settle(false);
  pings_ = std::async(std::launch::async, [this, servers, &remote, deadline] {
    return fleet_.keep_warm(servers, remote, deadline);
  });
  while (!warmed(kPromotionPoll))
    if (promotion_.hurry()) return;  // promoted: the pings finish on their own, the next round pushes
  settle(false);
}

bool Warming::warmed(double within) const {
  return pings_.wait_for(std::chrono::duration<double>(within)) == std::future_status::ready;
}

void Warming::settle(bool wait) {
  if (!pings_.valid() || (!wait && !warmed(0))) return;
  found_(pings_.get());
}

}  // namespace pgdeploy
