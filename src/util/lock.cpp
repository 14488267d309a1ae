#include "util/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace pgdeploy {

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing the descriptor releases the lock
}

bool FileLock::acquire(const std::string& path, const Deadline& deadline, std::string* err) {
  // Not through a symlink: whoever can plant one would have us create or lock a file of theirs.
  fd_ = open(path.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *err = errno == ELOOP
               ? "lock file " + path + " is a symbolic link: refused (remove it; pgdeploy creates its own)"
               : "cannot open lock file " + path + ": " + std::strerror(errno);
    return false;
  }
  // flock() has no timeout; poll it. Runs are short, so a 10 ms step costs nothing.
  while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      *err = "cannot lock " + path + ": " + std::strerror(errno);
      return false;
    }
    if (deadline.expired()) {
      *err = "another pgdeploy run still holds " + path;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace pgdeploy
