#include "util/lock.h"

#include <gtest/gtest.h>
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

}  // namespace
}  // namespace pgdeploy
