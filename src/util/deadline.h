// A point in time after which an operation must give up. Every wait in the agent takes one.
#pragma once

#include <chrono>

namespace pgdeploy {

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  static Deadline after(double seconds);

  // The sooner of this deadline and `other`.
  Deadline min(const Deadline& other) const { return at_ < other.at_ ? *this : other; }
  // Milliseconds left, never negative.
  int remaining_ms() const;
  bool expired() const { return Clock::now() >= at_; }

 private:
  explicit Deadline(Clock::time_point at) : at_(at) {}
  Clock::time_point at_;
};

// Waits until `fd` is readable (or writable) or the deadline passes; false on timeout or error.
bool wait_fd(int fd, bool for_write, const Deadline& deadline);

// Seconds elapsed since `start`.
double seconds_since(Clock::time_point start);

}  // namespace pgdeploy
