#include "util/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgdeploy {
namespace {

std::string reason(const std::string& path, int error) {
  if (error == ELOOP) return path + " is a symbolic link: not followed";
  return path + ": " + std::strerror(error);
}

bool write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool read_own_file(const std::string& path, std::string* text, std::string* err) {
  text->clear();
  err->clear();
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) *err = reason(path, errno);
    return false;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = reason(path, errno);
      close(fd);
      return false;
    }
    text->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool replace_own_file(const std::string& path, const std::string& text, std::string* err) {
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  unlink(tmp.c_str());  // a leftover of a killed run with our pid; unlink never follows a link
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = "cannot create " + reason(tmp, errno);
    return false;
  }
  bool written = write_all(fd, text);
  int saved = errno;
  if (close(fd) != 0 && written) written = false, saved = errno;
  if (!written) {
    unlink(tmp.c_str());
    *err = "cannot write " + reason(tmp, saved);
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *err = "cannot rename " + tmp + " to " + reason(path, errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace pgdeploy
