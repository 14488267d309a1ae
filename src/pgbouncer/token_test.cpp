#include "pgbouncer/token.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(Token, HeaderCarriesTheTruthAndEndsWithTheDigest) {
  Token t{"main", 2, 3, 50331744};
  std::string h = header_line(';', t, digest_of("x\n"));
  EXPECT_EQ(h.rfind("; pgdeploy cluster=main primary=2 timeline=3 generation=50331744 digest=", 0), 0u);
  EXPECT_EQ(h.substr(h.size() - digest_of("x\n").size()), digest_of("x\n"));
}

TEST(Token, DigestIsTheBodysSha256InHex) {
  // Known answers (FIPS 180-2 examples): the digest is SHA-256, not a fast non-cryptographic hash.
  EXPECT_EQ(digest_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Token, DigestFollowsTheBodyOnly) {
  EXPECT_EQ(digest_of("abc"), digest_of("abc"));
  EXPECT_NE(digest_of("abc"), digest_of("abd"));
  EXPECT_NE(digest_of(""), digest_of(std::string(1, '\0')));
  Token a{"main", 1, 1, 10}, b{"main", 1, 1, 20};
  std::string fa = with_header('#', a, "body\n").content, fb = with_header('#', b, "body\n").content;
  EXPECT_NE(fa, fb);                                                          // a newer generation ...
  EXPECT_EQ(fa.substr(fa.find(" digest=")), fb.substr(fb.find(" digest=")));  // ... same digest
}

}  // namespace
}  // namespace pgdeploy
