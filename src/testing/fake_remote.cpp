#include "testing/fake_remote.h"

namespace pgdeploy {
namespace {

// A resident program's stream: each exchange is answered as `answer` says, with the command
// that started it.
class FakeStream : public Stream {
 public:
  FakeStream(std::string host, std::string command, const FakeRemote::Answer& answer)
      : host_(std::move(host)), command_(std::move(command)), answer_(answer) {}
  ExecResult exchange(const std::string& input, const Deadline& deadline) override {
    return answer_(host_, command_, input, deadline);
  }

 private:
  std::string host_, command_;
  const FakeRemote::Answer& answer_;
};

class FakeSession : public Session {
 public:
  FakeSession(std::string host, const FakeRemote::Answer& answer, std::atomic<int>& logouts)
      : host_(std::move(host)), answer_(answer), logouts_(logouts) {}
  ~FakeSession() override { ++logouts_; }
  ExecResult run(const std::string& command, const std::string& input, const Deadline& deadline) override {
    return answer_(host_, command, input, deadline);
  }
  std::unique_ptr<Stream> start(const std::string& command, const Deadline&, ExecResult*) override {
    return std::make_unique<FakeStream>(host_, command, answer_);
  }

 private:
  std::string host_;
  const FakeRemote::Answer& answer_;
  std::atomic<int>& logouts_;
};

class Lent : public Remote {
 public:
  explicit Lent(Remote& remote) : remote_(remote) {}
  std::unique_ptr<Session> login(const Host& host, const Deadline& deadline, LoginFailure* failure) override {
    return remote_.login(host, deadline, failure);
  }

 private:
  Remote& remote_;
};

}  // namespace

std::unique_ptr<Remote> lend(Remote& remote) { return std::make_unique<Lent>(remote); }

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
