// A local advisory lock (flock) so that runs of the agent on one node never interleave.
#pragma once

#include <string>

#include "util/deadline.h"

namespace pgdeploy {

class FileLock {
 public:
  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Waits until the lock on `path` is ours or `deadline` passes. On failure says why in `err`.
  bool acquire(const std::string& path, const Deadline& deadline, std::string* err);

 private:
  int fd_ = -1;
};

}  // namespace pgdeploy
