#include "testing/fake_remote.h"

namespace pgdeploy {
namespace {

class FakeSession : public Session {
 public:
  FakeSession(std::string host, const FakeRemote::Answer& answer, std::atomic<int>& logouts)
      : host_(std::move(host)), answer_(answer), logouts_(logouts) {}
  ~FakeSession() override { ++logouts_; }
  ExecResult run(const std::string& command, const std::string& input,
                 const Deadline& deadline) override {
    return answer_(host_, command, input, deadline);
  }

 private:
  std::string host_;
  const FakeRemote::Answer& answer_;
  std::atomic<int>& logouts_;
};

}  // namespace

std::unique_ptr<Session> FakeRemote::login(const Host& host, const Deadline&, LoginFailure* failure) {
  ++logins;
  if (host.address == "down") {
    failure->stage = "connect";
    failure->error = "Connection refused";
    return nullptr;
  }
  return std::make_unique<FakeSession>(host.address, answer_, logouts);
}

ExecResult answer_written() {
  ExecResult r;
  r.ok = true;
  r.exit_status = 0;
  r.out = "CHANGED /etc/pgbouncer/databases/main.ini\nRELOADED\nDONE ok\n";
  return r;
}

}  // namespace pgdeploy
