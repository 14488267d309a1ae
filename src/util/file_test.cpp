#include "util/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace pgdeploy {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/pgdeploy-file-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OwnFile, ReplacedAtomicallyWithMode0600AndReadBack) {
  TempDir d;
  std::string path = d.path / "last", text, err;
  EXPECT_FALSE(read_own_file(path, &text, &err));
  EXPECT_EQ(err, "");  // simply absent
  ASSERT_TRUE(replace_own_file(path, "1 abc 2\n", &err)) << err;
  ASSERT_TRUE(replace_own_file(path, "3 def 4\n", &err)) << err;
  ASSERT_TRUE(read_own_file(path, &text, &err)) << err;
  EXPECT_EQ(text, "3 def 4\n");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()), 1)
      << "no temporary file left";
}

TEST(OwnFile, ASymlinkIsNeitherReadNorWrittenThrough) {
  TempDir d;
  fs::path victim = d.path / "victim", link = d.path / "last";
  std::ofstream(victim) << "precious\n";
  fs::create_symlink(victim, link);
  std::string text, err;
  EXPECT_FALSE(read_own_file(link, &text, &err));
  EXPECT_EQ(err, link.string() + " is a symbolic link: not followed");
  EXPECT_EQ(text, "");
  // Replacing renames over the link itself: the file it pointed to is untouched.
  ASSERT_TRUE(replace_own_file(link, "1 abc 2\n", &err)) << err;
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_EQ(slurp(link), "1 abc 2\n");
}

TEST(OwnFile, ATemporaryNamePlantedAsALinkIsNotFollowed) {
  TempDir d;
  fs::path victim = d.path / "victim", path = d.path / "last";
  std::ofstream(victim) << "precious\n";
  fs::create_symlink(victim, path.string() + ".tmp-" + std::to_string(getpid()));
  std::string err;
  ASSERT_TRUE(replace_own_file(path, "x\n", &err)) << err;
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_EQ(slurp(path), "x\n");
}

}  // namespace
}  // namespace pgdeploy
