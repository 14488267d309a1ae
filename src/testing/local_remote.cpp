#include "testing/local_remote.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace pgdeploy {

namespace {

class LocalSession : public Session {
 public:
  explicit LocalSession(const LocalRemote& remote) : remote_(remote) {}
  ExecResult run(const std::string& command, const std::string& input,
                 const Deadline& deadline) override {
    return remote_.run(command, input, deadline);
  }

 private:
  const LocalRemote& remote_;
};

}  // namespace

std::unique_ptr<Session> LocalRemote::login(const Host&, const Deadline&, LoginFailure*) {
  return std::make_unique<LocalSession>(*this);
}

ExecResult LocalRemote::run(const std::string& command, const std::string& input,
                            const Deadline& deadline) const {
  ExecResult r;
  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err)) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    for (const auto& e : env_) putenv(const_cast<char*>(e.c_str()));
    execl(shell_.c_str(), shell_.c_str(), "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  signal(SIGPIPE, SIG_IGN);
  std::thread writer([fd = in[1], &input] {
    size_t sent = 0;
    while (sent < input.size()) {
      ssize_t n = write(fd, input.data() + sent, input.size() - sent);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(fd);
  });
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0 && !deadline.expired()) {
    if (poll(fds, 2, deadline.remaining_ms()) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  if (open_fds > 0) {
    kill(pid, SIGKILL);
    for (auto& f : fds)
      if (f.fd >= 0) close(f.fd);
  }
  writer.join();
  int status = 0;
  waitpid(pid, &status, 0);
  if (open_fds > 0) {
    r.stage = "timeout";
    r.error = "local command timed out";
    return r;
  }
  r.ok = true;
  r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pgdeploy-test-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

}  // namespace pgdeploy
