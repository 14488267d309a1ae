#include "util/lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pgdeploy {
namespace {

namespace fs = std::filesystem;

TEST(FileLock, OneHolderAtATime) {
  char tmpl[] = "/tmp/pgdeploy-lock-test-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  std::string path = dir / "run.lock", err;
  {
    FileLock a, b;
    ASSERT_TRUE(a.acquire(path, Deadline::after(1), &err)) << err;
    EXPECT_FALSE(b.acquire(path, Deadline::after(0.05), &err));
    EXPECT_EQ(err, "another pgdeploy run still holds " + path);
  }
  FileLock c;
  EXPECT_TRUE(c.acquire(path, Deadline::after(1), &err)) << err;
  fs::remove_all(dir);
}

TEST(FileLock, ASymlinkIsRefusedNotFollowed) {
  char tmpl[] = "/tmp/pgdeploy-lock-test-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  fs::path target = dir / "elsewhere", link = dir / "run.lock";
  fs::create_symlink(target, link);  // dangling: following it would create `target`
  FileLock lock;
  std::string err;
  EXPECT_FALSE(lock.acquire(link, Deadline::after(1), &err));
  EXPECT_EQ(err, "lock file " + link.string() +
                     " is a symbolic link: refused (remove it; pgdeploy creates its own)");
  EXPECT_FALSE(fs::exists(target));
  fs::remove_all(dir);
}

TEST(FileLock, TheDirectoryMayBeWrittenByNoOneButThisUserOrRoot) {
  const uid_t me = 1000, other = 1001;
  struct Case {
    uid_t owner;
    mode_t mode;
    std::string why;  // "" = kept
  } cases[] = {
      {me, 040755, ""},  // ~postgres on Debian: /var/lib/postgresql
      {me, 040700, ""},
      {0, 040755, ""},  // a root directory only root writes
      {me, 040775, "is writable by others (mode 0775)"},
      {me, 040757, "is writable by others (mode 0757)"},
      {0, 041777, "is writable by others (mode 1777)"},  // /tmp: sticky, but anyone creates there
      {0, 041770, "is writable by others (mode 1770)"},
      {other, 040755, "belongs to another user (uid 1001)"},
      {other, 040700, "belongs to another user (uid 1001)"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(unsafe_directory(c.owner, c.mode, me), c.why) << c.owner << " " << std::oct << c.mode;
}

TEST(FileLock, ALockInADirectoryOthersCanWriteIsRefusedAndNotCreated) {
  char tmpl[] = "/tmp/pgdeploy-lock-test-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);
  std::string path = dir / "run.lock", err;
  FileLock lock;
  EXPECT_FALSE(lock.acquire(path, Deadline::after(1), &err));
  EXPECT_EQ(err, "the directory " + dir.string() + " of " + path +
                     " is writable by others (mode 1777): refused (another user could take the lock, "
                     "or answer for this node's watcher); give --lock-file in a directory only this "
                     "user or root can write, such as this user's home");
  EXPECT_FALSE(fs::exists(path));
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  EXPECT_TRUE(lock.acquire(path, Deadline::after(1), &err)) << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pgdeploy
