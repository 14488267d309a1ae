#include "util/handoff.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "util/lock.h"

namespace pgdeploy {
namespace {

// Reads until `done(buffer)` or the deadline; false on EOF, error or timeout.
template <typename Done>
bool read_until(int fd, std::string* buf, const Deadline& deadline, Done done) {
  char chunk[4096];
  while (!done(*buf)) {
    pollfd p{fd, POLLIN, 0};
    if (deadline.expired() || poll(&p, 1, std::max(1, deadline.remaining_ms())) <= 0) return false;
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
    if (buf->size() > (16u << 20)) return false;
  }
  return true;
}

bool write_all(int fd, const std::string& s) {
  for (size_t sent = 0; sent < s.size();) {
    ssize_t n = send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool address(const std::string& path, sockaddr_un* a) {
  *a = {};
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

std::string handoff_socket(const std::string& lock_file) {
  sockaddr_un a;
  std::string path = lock_file + ".sock";
  return address(path, &a) ? path : "";
}

double handoff_wait(double left, double one_shot) {
  double wait = left - one_shot;
  return wait >= kHandoffMinWait ? wait : 0;
}

Handoff hand_off(const std::string& socket_path, const HookRequest& request, const Deadline& deadline,
                 HookAnswer* answer, std::string* why) {
  std::string ignored;
  if (!why) why = &ignored;
  why->clear();
  sockaddr_un a;
  if (!address(socket_path, &a)) return Handoff::declined;
  // Whoever may write there may listen in the watcher's stead (the lock refuses it too).
  if (!private_directory(socket_path, why)) return Handoff::declined;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Handoff::declined;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Handoff::declined;  // no watcher
  // Only a watcher of our own user is believed: anyone else's listener could forge any answer.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    *why = socket_path + " is served by uid " + std::to_string(cred.uid) + ", not by this user (uid " +
           std::to_string(geteuid()) + "): not believed, not handed over";
    return Handoff::declined;
  }
  std::string event = request.line;
  for (char& c : event)
    if (c == '\n' || c == '\r') c = ' ';
  std::string format = request.json ? "json" : "text";
  std::string kind = request.ask == HookRequest::Ask::status  ? "status"
                     : request.ask == HookRequest::Ask::check ? "check-" + format
                                                              : format;
  long wait_ms = std::lround(request.wait * 1000);
  if (!write_all(fd, "PGDEPLOY-HOOK 2 " + kind + " " + std::to_string(wait_ms) + "\n" + event + "\n"))
    return Handoff::declined;
  std::string buf;
  auto line = [](const std::string& b) { return b.find('\n') != std::string::npos; };
  if (!read_until(fd, &buf, Deadline::after(kHandoffAck).min(deadline), line) ||
      buf.rfind("ACCEPTED\n", 0) != 0)
    return Handoff::declined;  // declined, hung, stopped: the hook does the one-shot
  buf.erase(0, 9);
  // "EXIT <code> <out|err> <length>\n" and the report.
  size_t length = 0, header = 0;
  auto whole = [&](const std::string& b) {
    size_t nl = b.find('\n');
    if (nl == std::string::npos) return false;
    std::istringstream in(b.substr(0, nl));
    std::string word, where;
    if (!(in >> word >> answer->code >> where >> length) || word != "EXIT") return true;  // garbage: stop
    answer->to_stderr = where == "err";
    header = nl + 1;
    return b.size() >= header + length;
  };
  Deadline until = request.wait > 0 ? Deadline::after(request.wait).min(deadline) : deadline;
  if (!read_until(fd, &buf, until, whole) || header == 0 || buf.size() < header + length)
    return Handoff::unanswered;  // taken, and perhaps pushed: the hook must not say "nothing written"
  answer->text = buf.substr(header, length);
  return answer->code >= 0 ? Handoff::answered : Handoff::declined;  // below 0: the watcher did not push
}

namespace {

// One hook's connection on the watcher's side. The round may answer before the listening thread
// says ACCEPTED (it was queued, and the round ran): so ACCEPTED is written by whichever comes
// first, always before EXIT, and nothing is written once the descriptor is closed (its number
// may already be another connection's: the database, an SSH session, the metrics).
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  ~Connection() {
    if (fd_ >= 0) close(fd_);  // a reply dropped unanswered (the watcher stops): the hook sees EOF
  }
  void accept() {
    std::lock_guard<std::mutex> guard(mu_);
    say_accepted();
  }
  void answer(const HookAnswer& a) {
    std::lock_guard<std::mutex> guard(mu_);
    say_accepted();
    if (fd_ < 0) return;
    write_all(fd_, "EXIT " + std::to_string(a.code) + (a.to_stderr ? " err " : " out ") +
                       std::to_string(a.text.size()) + "\n" + a.text);
    close(fd_);
    fd_ = -1;
  }
  void decline(const std::string& why) {
    std::lock_guard<std::mutex> guard(mu_);
    if (fd_ < 0) return;
    write_all(fd_, "DECLINED " + why + "\n");
    close(fd_);
    fd_ = -1;
  }

 private:
  void say_accepted() {
    if (fd_ < 0 || accepted_) return;
    accepted_ = true;
    write_all(fd_, "ACCEPTED\n");  // a hook gone away: the round still runs, its answer goes nowhere
  }
  std::mutex mu_;
  int fd_;
  bool accepted_ = false;
};

}  // namespace

struct HandoffServer::Impl {
  Take take;
  Status status;
  int fd = -1;
  std::string path;
  std::atomic<bool> stop{false};
  std::thread thread;

  void serve() {
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      // Only our own user may hand us an event (the socket is 0600 too).
      ucred cred{};
      socklen_t len = sizeof cred;
      if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
        close(c);
        continue;
      }
      std::string buf;
      auto two_lines = [](const std::string& b) {
        size_t nl = b.find('\n');
        return nl != std::string::npos && b.find('\n', nl + 1) != std::string::npos;
      };
      static const std::string kHead = "PGDEPLOY-HOOK 2 ";
      bool whole = read_until(c, &buf, Deadline::after(1), two_lines);
      size_t nl = buf.find('\n');
      std::istringstream head(whole && buf.compare(0, kHead.size(), kHead) == 0
                                  ? buf.substr(kHead.size(), nl - kHead.size())
                                  : "");
      std::string kind;
      long wait_ms = -1;
      head >> kind >> wait_ms;
      HookRequest req;
      if (kind.rfind("check-", 0) == 0) {
        req.ask = HookRequest::Ask::check;
        kind.erase(0, 6);
      } else if (kind == "status") {
        req.ask = HookRequest::Ask::status;
        kind = "text";
      }
      if ((kind != "text" && kind != "json") || wait_ms < 0) {
        write_all(c, "DECLINED malformed request\n");
        close(c);
        continue;
      }
      req.json = kind == "json";
      req.wait = static_cast<double>(wait_ms) / 1000;
      req.line = buf.substr(nl + 1, buf.find('\n', nl + 1) - nl - 1);
      auto conn = std::make_shared<Connection>(c);
      Reply reply = [conn](const HookAnswer& a) { conn->answer(a); };
      if (req.ask == HookRequest::Ask::status) {
        reply({0, false, status()});
        continue;
      }
      std::string why = take(req, std::move(reply));
      if (!why.empty()) conn->decline(why);
      else conn->accept();  // unless the round has answered already: then it said ACCEPTED
    }
  }
};

HandoffServer::HandoffServer(Take take, Status status) : impl_(std::make_unique<Impl>()) {
  impl_->take = std::move(take);
  impl_->status = std::move(status);
}

HandoffServer::~HandoffServer() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->fd >= 0) {
    close(impl_->fd);
    unlink(impl_->path.c_str());
  }
}

bool HandoffServer::start(const std::string& path, std::string* err) {
  sockaddr_un a;
  if (!address(path, &a)) {
    *err = "the hook socket path is too long for a Unix socket: " + path;
    return false;
  }
  if (!private_directory(path, err)) return false;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = path + " exists and is not a socket: not replaced";
      return false;
    }
    unlink(path.c_str());  // a dead watcher's: we hold the watcher lock
  }
  impl_->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  mode_t old = umask(0177);
  bool ok = impl_->fd >= 0 && bind(impl_->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            listen(impl_->fd, 16) == 0;
  umask(old);
  if (!ok) {
    *err = "cannot listen on " + path + ": " + std::strerror(errno);
    return false;
  }
  impl_->path = path;
  impl_->thread = std::thread([this] { impl_->serve(); });
  return true;
}

}  // namespace pgdeploy
