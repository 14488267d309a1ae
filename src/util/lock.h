// A local advisory lock (flock) so that runs of the agent on one node never interleave; and the
// rule for the directory that holds it and the hook's socket beside it (util/handoff).
#pragma once

#include <sys/types.h>

#include <string>

#include "util/deadline.h"

namespace pgdeploy {

class FileLock {
 public:
  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Waits until the lock on `path` is ours or `deadline` passes. On failure says why in `err`
  // (also when private_directory() refuses the lock's directory).
  bool acquire(const std::string& path, const Deadline& deadline, std::string* err);

 private:
  int fd_ = -1;
};

// Whoever may write a directory may put a lock there before us (and hold every run off) or
// listen on the hook's socket in our stead. So the directory of the lock file must be writable
// by no one but its owner, and owned by this user or root: "" when a directory of `owner` and
// `mode` is such, else what is wrong with it. A sticky directory (/tmp) is writable by others.
std::string unsafe_directory(uid_t owner, mode_t mode, uid_t me);

// The rule above for the directory of `file`, as it is now: false, with the message for
// the operator, when it is not kept or cannot be read (a symbolic link to it is followed).
bool private_directory(const std::string& file, std::string* err);

}  // namespace pgdeploy
