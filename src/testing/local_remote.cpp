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

#include "remote/frame.h"

namespace pgdeploy {

namespace {

class LocalSession : public Session {
 public:
  explicit LocalSession(const LocalRemote& remote) : remote_(remote) {}
  ExecResult run(const std::string& command, const std::string& input, const Deadline& deadline) override {
    return remote_.run(command, input, deadline);
  }
  std::unique_ptr<Stream> start(const std::string& command, const Deadline& deadline,
                                ExecResult* failed) override {
    return remote_.start(command, deadline, failed);
  }

 private:
  const LocalRemote& remote_;
};

}  // namespace

std::unique_ptr<Session> LocalRemote::login(const Host&, const Deadline&, LoginFailure*) {
  return std::make_unique<LocalSession>(*this);
}

// The shell running `command` with its standard input, output and error on pipes (our ends:
// in[1], out[0], err[0]); -1 when it cannot start.
pid_t LocalRemote::spawn(const std::string& command, int in[2], int out[2], int err[2]) const {
  if (pipe(in) || pipe(out) || pipe(err)) return -1;
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
  return pid;
}

ExecResult LocalRemote::run(const std::string& command, const std::string& input,
                            const Deadline& deadline) const {
  ExecResult r;
  int in[2], out[2], err[2];
  pid_t pid = spawn(command, in, out, err);
  if (pid < 0) return r;
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

namespace {

// The command as a child with its standard input, output and error on pipes, kept running.
struct LocalStream : Stream {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;
  ~LocalStream() override {
    for (int fd : {in, out, err})
      if (fd >= 0) close(fd);
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
  // As SshStream::exchange: exactly one frame, and a stream that failed once stays broken.
  ExecResult exchange(const std::string& input, const Deadline& deadline) override {
    ExecResult r;
    auto fail = [&](const char* stage, const std::string& why) {
      r.stage = stage;
      r.error = why;
      broken = true;
      return r;
    };
    if (broken) return fail("exec", "the stream broke earlier");
    char buf[4096];
    pollfd waiting = {out, POLLIN, 0};
    if (poll(&waiting, 1, 0) > 0)
      return read(out, buf, sizeof buf) > 0
                 ? fail("output", "garbled answer: bytes after the end of the last answer")
                 : fail("exec", "the local program ended");
    for (size_t sent = 0; sent < input.size();) {
      ssize_t n = write(in, input.data() + sent, input.size() - sent);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    r.bytes_sent = input.size();
    FrameReader frame(1 << 20);
    pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
    while (!deadline.expired()) {
      if (poll(fds, 2, deadline.remaining_ms()) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) return fail("exec", "the local program ended");
        r.bytes_received += static_cast<uint64_t>(n);
        if (i == 1) {
          r.err.append(buf, static_cast<size_t>(n));
        } else if (frame.feed({buf, static_cast<size_t>(n)}) == FrameReader::State::garbled) {
          return fail("output", "garbled answer: " + frame.why());
        } else if (frame.state() == FrameReader::State::complete) {
          r.out = frame.answer();
          r.ok = true;
          r.exit_status = 0;
          return r;
        }
      }
    }
    return fail("timeout", "local program timed out");
  }
  bool broken = false;
};

}  // namespace

std::unique_ptr<Stream> LocalRemote::start(const std::string& command, const Deadline&,
                                           ExecResult* failed) const {
  int in[2], out[2], err[2];
  auto s = std::make_unique<LocalStream>();
  s->pid = spawn(command, in, out, err);
  if (s->pid < 0) {
    failed->stage = "exec";
    failed->error = "cannot start a local shell";
    return nullptr;
  }
  s->in = in[1];
  s->out = out[0];
  s->err = err[0];
  return s;
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
