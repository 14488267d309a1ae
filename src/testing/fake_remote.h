// Test helper: a Remote whose every host answers as `answer` says, counting logins and logouts:
// each command run, and each exchange on a stream started (the command is the one that started
// it). A host named "down" refuses the connection.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "remote/remote.h"

namespace pgdeploy {

class FakeRemote : public Remote {
 public:
  using Answer = std::function<ExecResult(const std::string& host, const std::string& command,
                                          const std::string& input, const Deadline& deadline)>;
  explicit FakeRemote(Answer answer) : answer_(std::move(answer)) {}
  std::unique_ptr<Session> login(const Host& host, const Deadline&, LoginFailure* failure) override;
  std::atomic<int> logins{0}, logouts{0};

 private:
  Answer answer_;
};

// A Remote that logs in through `remote`, for an owner that makes its own (the watcher's
// MakeRemote) while the test keeps `remote` to look at.
std::unique_ptr<Remote> lend(Remote& remote);

// What a push program answers when it wrote the include file and reloaded.
ExecResult answer_written();

}  // namespace pgdeploy
