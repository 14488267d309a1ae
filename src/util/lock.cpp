#include "util/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace pgdeploy {

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing the descriptor releases the lock
}

std::string unsafe_directory(uid_t owner, mode_t mode, uid_t me) {
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode & 07777));
  if (mode & (S_IWGRP | S_IWOTH)) return std::string("is writable by others (mode ") + octal + ")";
  if (owner != me && owner != 0) return "belongs to another user (uid " + std::to_string(owner) + ")";
  return "";
}

bool private_directory(const std::string& file, std::string* err) {
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
  struct stat st;
  std::string why;
  if (stat(dir.c_str(), &st) != 0) why = std::string("cannot be read: ") + std::strerror(errno);
  else why = unsafe_directory(st.st_uid, st.st_mode, geteuid());
  if (why.empty()) return true;
  *err = "the directory " + dir + " of " + file + " " + why +
         ": refused (another user could take the lock, or answer for this node's watcher); give "
         "--lock-file in a directory only this user or root can write, such as this user's home";
  return false;
}

bool FileLock::acquire(const std::string& path, const Deadline& deadline, std::string* err) {
  if (!private_directory(path, err)) return false;
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
