#include "remote/ssh.h"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "remote/frame.h"
#include "remote/known_hosts.h"

namespace pgdeploy {
namespace {

std::mutex known_hosts_mutex;  // threads append to one known_hosts file

// Connects a TCP socket within `deadline`; returns the fd or -1 with the reason.
int tcp_connect(const std::string& host, unsigned port, const Deadline& deadline, std::string* err) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    *err = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      *err = std::strerror(errno);
      continue;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      *err = std::strerror(errno);
    } else if (!wait_fd(fd, true, deadline)) {
      *err = "no answer (timed out)";
    } else {
      int so_error = 0;
      socklen_t len = sizeof so_error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error == 0) break;
      *err = std::strerror(so_error);
    }
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // libssh wants blocking
    // Our messages are small and each waits for an answer: Nagle's algorithm would hold the last
    // one (the end of the files, EOF) back for a delayed ACK, tens of milliseconds per server.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

// libssh's blocking calls wait at most the session timeout: make it what is left.
void limit_to(ssh_session s, const Deadline& deadline) {
  // Rounded up: remaining_ms() drops the part of a millisecond, and a libssh timeout that ends
  // before the deadline makes a try that ran out of the run's time look like the host's fault
  // (pgdeploy check: UNKNOWN, "did not finish within its --deadline", not WARNING).
  long ms = deadline.remaining_ms() + 1;
  long sec = ms / 1000, usec = (ms % 1000) * 1000;
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

std::string fingerprint(ssh_session s) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK) return "?";
  unsigned char* hash = nullptr;
  size_t len = 0;
  std::string out = "?";
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == 0) {
    char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    if (text) out = text;
    ssh_string_free_char(text);
    ssh_clean_pubkey_hash(&hash);
  }
  ssh_key_free(key);
  return out;
}

// A string option of the session, "" when unset.
std::string option(ssh_session s, ssh_options_e which) {
  char* value = nullptr;
  if (ssh_options_get(s, which, &value) != SSH_OK || !value) return "";
  std::string out = value;
  ssh_string_free_char(value);
  return out;
}

// The server's host key as known_hosts writes it: its base64 blob, "" if libssh has none.
std::string server_key_blob(ssh_session s) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK) return "";
  char* b64 = nullptr;
  std::string out;
  if (ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK && b64) out = b64;
  ssh_string_free_char(b64);
  ssh_key_free(key);
  return out;
}

// Checks the server's host key; records an unknown one only with accept-new. False with the
// reason.
bool check_host_key(ssh_session s, const std::string& host, unsigned port, bool accept_new, std::string* note,
                    std::string* err) {
  std::lock_guard<std::mutex> guard(known_hosts_mutex);
  std::string file = option(s, SSH_OPTIONS_KNOWNHOSTS);
  if (file.empty()) file = "~/.ssh/known_hosts";  // libssh's default, should it not say
  ssh_known_hosts_e state = ssh_session_is_known_server(s);
  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return true;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      *err = changed_host_key_message(fingerprint(s), host, port, file, state == SSH_KNOWN_HOSTS_OTHER);
      return false;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (!accept_new) {
        *err = unknown_host_key_message(fingerprint(s), host, port, file);
        return false;
      }
      if (ssh_session_update_known_hosts(s) != SSH_OK) {
        *err = std::string("cannot record the host key: ") + ssh_get_error(s);
        return false;
      }
      *note = "new host key " + fingerprint(s) + " recorded in known_hosts";
      return true;
    case SSH_KNOWN_HOSTS_ERROR:
      break;
  }
  *err = std::string("cannot check the host key: ") + ssh_get_error(s);
  return false;
}

std::string home_dir() {
  const char* home = std::getenv("HOME");
  return home ? home : "";
}

}  // namespace

struct SshRemote::Keys {
  std::vector<ssh_key> keys;
  ~Keys() {
    for (ssh_key k : keys) ssh_key_free(k);
  }
};

SshRemote::SshRemote(SshSettings settings)
    : settings_(std::move(settings)), keys_(std::make_unique<Keys>()) {}

// Parse each private key once, not once per host, and only when a login is made (not for an
// event that needs no deploy); keys with a passphrase are left to ssh-agent.
const SshRemote::Keys& SshRemote::keys() {
  std::call_once(keys_loaded_, [this] {
    std::vector<std::string> files = settings_.identities;
    if (files.empty())
      for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"})
        files.push_back(home_dir() + "/.ssh/" + name);
    for (const auto& f : files) {
      ssh_key key = nullptr;
      if (access(f.c_str(), R_OK) == 0 &&
          ssh_pki_import_privkey_file(f.c_str(), nullptr, nullptr, nullptr, &key) == SSH_OK)
        keys_->keys.push_back(key);
    }
  });
  return *keys_;
}

SshRemote::~SshRemote() = default;

bool SshRemote::revoked(const std::string& file, const std::string& blob) {
  std::lock_guard<std::mutex> guard(revoked_mu_);
  auto it = revoked_.find(file);
  if (it == revoked_.end()) {
    std::ifstream in(file);  // a missing file revokes nothing
    std::ostringstream text;
    text << in.rdbuf();
    it = revoked_.emplace(file, revoked_keys(text.str())).first;
  }
  return it->second.count(blob) > 0;
}

namespace {

using SshSessionPtr = std::unique_ptr<ssh_session_struct, void (*)(ssh_session)>;

class SshSession : public Session {
 public:
  SshSessionPtr session;
  std::string note;  // from the login: a newly recorded host key
  explicit SshSession(SshSessionPtr s, std::string login_note)
      : session(std::move(s)), note(std::move(login_note)) {}
  // Closed by ssh_free alone: ssh_disconnect() would leave the descriptor open (below).
  ~SshSession() override = default;
  ExecResult run(const std::string& command, const std::string& input, const Deadline& deadline) override;
  std::unique_ptr<Stream> start(const std::string& command, const Deadline& deadline,
                                ExecResult* failed) override;
};

using Channel = std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)>;

// A session channel running `command` (an exec request), for run() and start() alike; null with
// the stage and why in `failed`, naming what did not start ("command", "program").
Channel open_exec(ssh_session s, const std::string& command, const Deadline& deadline, const char* what,
                  ExecResult* failed) {
  Channel ch(ssh_channel_new(s), ssh_channel_free);
  limit_to(s, deadline);
  if (ch && ssh_channel_open_session(ch.get()) == SSH_OK &&
      ssh_channel_request_exec(ch.get(), command.c_str()) == SSH_OK)
    return ch;
  failed->stage = "exec";
  failed->error = std::string("cannot start the remote ") + what + ": " + ssh_get_error(s);
  return Channel(nullptr, ssh_channel_free);
}

// The program may exit before it reads everything (nothing to change): a short write is fine.
// At most 64 KiB per write: libssh flushes each write before it returns, and its output buffer
// keeps its largest size for the session's life, so a warm session would otherwise hold on to
// the whole of the largest request it ever sent (a cold push with 10,000 roles: 1.5 MB).
void send(ssh_session s, ssh_channel ch, const std::string& input, const Deadline& deadline) {
  constexpr size_t kWriteChunk = 64 << 10;
  size_t sent = 0;
  while (sent < input.size()) {
    limit_to(s, deadline);
    int n = ssh_channel_write(ch, input.data() + sent,
                              static_cast<uint32_t>(std::min(input.size() - sent, kWriteChunk)));
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
}

// Reads stdout and stderr into r until `done(n)` (after each read of n bytes) or the deadline;
// false with r's stage and error set when it fails. Past kMaxRemoteOutput nothing is trusted.
template <typename Done>
bool receive(ssh_session s, ssh_channel ch, const Deadline& deadline, ExecResult* r, Done done) {
  auto fail = [r](const char* stage, const std::string& why) {
    r->stage = stage;
    r->error = why;
    return false;
  };
  char buf[16384];
  for (;;) {
    if (deadline.expired()) return fail("timeout", "no answer from the remote command before the deadline");
    int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, std::min(deadline.remaining_ms(), 200));
    if (n == SSH_ERROR) return fail("exec", std::string("connection lost: ") + ssh_get_error(s));
    if (n > 0) r->out.append(buf, static_cast<size_t>(n));
    int e = 0;
    while (r->out.size() + r->err.size() <= kMaxRemoteOutput &&
           (e = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1)) > 0)
      r->err.append(buf, static_cast<size_t>(e));
    if (r->out.size() + r->err.size() > kMaxRemoteOutput) {
      r->out.clear();
      r->err.clear();
      limit_to(s, deadline);
      ssh_channel_close(ch);
      return fail("output", "answered more than " + std::to_string(kMaxRemoteOutput >> 20) +
                                " MiB: ignored, nothing trusted");
    }
    if (done(n)) return true;
    if (n == 0 && ssh_channel_is_eof(ch)) return fail("exec", "the remote program ended");
  }
}

class SshStream : public Stream {
 public:
  SshStream(ssh_session s, Channel c) : session_(s), ch_(std::move(c)) {}
  ~SshStream() override {
    if (ch_ && ssh_channel_is_open(ch_.get())) {
      ssh_channel_send_eof(ch_.get());
      ssh_channel_close(ch_.get());
    }
  }
  ExecResult exchange(const std::string& input, const Deadline& deadline) override {
    ExecResult r;
    auto fail = [&](const char* stage, const std::string& why) {
      r.stage = stage;
      r.error = why;
      broken_ = true;
      return r;
    };
    if (broken_) return fail("exec", "the stream broke earlier");
    // The program writes nothing but answers, one per request: a byte here before the request
    // came after the last answer's end.
    int waiting = ssh_channel_poll(ch_.get(), 0);
    if (waiting == SSH_EOF) return fail("exec", "the remote program ended");
    if (waiting == SSH_ERROR) return fail("exec", std::string("connection lost: ") + ssh_get_error(session_));
    if (waiting > 0) return fail("output", "garbled answer: bytes after the end of the last answer");
    send(session_, ch_.get(), input, deadline);
    FrameReader frame(kMaxRemoteOutput);
    bool read = receive(session_, ch_.get(), deadline, &r, [&](int n) {
      return n > 0 && frame.feed(std::string_view(r.out).substr(r.out.size() - static_cast<size_t>(n))) !=
                          FrameReader::State::need_more;
    });
    r.bytes_sent = input.size();
    r.bytes_received = r.out.size() + r.err.size();
    if (read && frame.state() == FrameReader::State::garbled)
      return fail("output", "garbled answer: " + frame.why());
    broken_ = !read;
    r.ok = read;
    r.exit_status = read ? 0 : -1;
    if (read) r.out = frame.answer();
    return r;
  }

 private:
  ssh_session session_;
  Channel ch_;
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<Session> SshRemote::login(const Host& server, const Deadline& deadline,
                                          LoginFailure* failure) {
  SshSessionPtr session(ssh_new(), ssh_free);
  ssh_session s = session.get();
  LoginFailure& r = *failure;
  auto fail = [&](const char* stage, const std::string& why) {
    r.stage = stage;
    r.error = why;
    return std::unique_ptr<Session>();  // ssh_free closes the connection
  };
  if (!s) return fail("connect", "out of memory");
  ssh_options_set(s, SSH_OPTIONS_HOST, server.address.c_str());
  if (ssh_options_parse_config(s, nullptr) != 0)
    return fail("connect", std::string("bad ssh config: ") + ssh_get_error(s));
  ssh_options_set(s, SSH_OPTIONS_USER, server.user.c_str());
  if (!settings_.known_hosts.empty())
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, settings_.known_hosts.c_str());

  char* host = nullptr;  // HostName from ~/.ssh/config, or the address itself
  unsigned port = 22;
  ssh_options_get(s, SSH_OPTIONS_HOST, &host);
  ssh_options_get_port(s, &port);
  std::string target = host ? host : server.address;
  ssh_string_free_char(host);

  std::string err;
  int fd = tcp_connect(target, port, deadline.min(Deadline::after(settings_.connect_timeout)), &err);
  if (fd < 0) return fail("connect", "cannot connect to " + target + ":" + std::to_string(port) + ": " + err);
  // libssh owns the descriptor from here, and ssh_free() closes it. Never ssh_disconnect():
  // with SSH_OPTIONS_FD it forgets the descriptor without closing it (libssh 0.10.4, seen), so
  // every reconnect of a watcher kept one more socket (the watcher test counts them).
  ssh_options_set(s, SSH_OPTIONS_FD, &fd);
  limit_to(s, deadline);
  if (ssh_connect(s) != SSH_OK)
    return fail("handshake", std::string("SSH handshake failed: ") + ssh_get_error(s));
  // libssh does not read @revoked lines: the agent does, in the files libssh checks against.
  std::string blob = server_key_blob(s);
  for (ssh_options_e which : {SSH_OPTIONS_KNOWNHOSTS, SSH_OPTIONS_GLOBAL_KNOWNHOSTS}) {
    std::string file = option(s, which);
    if (!blob.empty() && !file.empty() && revoked(file, blob))
      return fail("host key", "host key " + fingerprint(s) + " is marked @revoked in " + file + ": refused");
  }
  if (!check_host_key(s, target, port, settings_.accept_new_host_keys, &r.note, &err))
    return fail("host key", err);

  limit_to(s, deadline);
  int auth = SSH_AUTH_DENIED;
  for (ssh_key key : keys().keys) {
    auth = ssh_userauth_publickey(s, nullptr, key);
    if (auth != SSH_AUTH_DENIED && auth != SSH_AUTH_PARTIAL) break;
  }
  if (auth != SSH_AUTH_SUCCESS && auth != SSH_AUTH_ERROR)
    auth = ssh_userauth_publickey_auto(s, nullptr, nullptr);  // ssh-agent, IdentityFile
  if (auth != SSH_AUTH_SUCCESS)
    return fail("auth", auth == SSH_AUTH_ERROR ? std::string("authentication error: ") + ssh_get_error(s)
                                               : "public key rejected for user " + server.user);
  return std::make_unique<SshSession>(std::move(session), r.note);
}

ExecResult SshSession::run(const std::string& command, const std::string& input, const Deadline& deadline) {
  ExecResult r;
  r.note = note;
  auto fail = [&r](const char* stage, const std::string& why) {
    r.stage = stage;
    r.error = why;
    return r;
  };
  ssh_session s = session.get();
  Channel ch = open_exec(s, command, deadline, "command", &r);
  if (!ch) return r;
  send(s, ch.get(), input, deadline);
  ssh_channel_send_eof(ch.get());
  if (!receive(s, ch.get(), deadline, &r, [&](int n) { return n == 0 && ssh_channel_is_eof(ch.get()); }))
    return r;
  limit_to(s, deadline);
  r.exit_status = ssh_channel_get_exit_status(ch.get());
  if (r.exit_status < 0) return fail("exec", "the remote command ended without an exit status");
  ssh_channel_close(ch.get());
  r.ok = true;
  return r;
}

std::unique_ptr<Stream> SshSession::start(const std::string& command, const Deadline& deadline,
                                          ExecResult* failed) {
  ssh_session s = session.get();
  Channel ch = open_exec(s, command, deadline, "program", failed);
  if (!ch) return nullptr;
  return std::make_unique<SshStream>(s, std::move(ch));
}

}  // namespace pgdeploy
