#include "remote/known_hosts.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(KnownHosts, RevokedKeysAreTheBlobsOfRevokedLinesOnly) {
  std::string text =
      "127.0.1.1 ssh-ed25519 AAAAgood\n"
      "@revoked * ssh-ed25519 AAAAbad1 old key of app2\n"
      "@revoked\t[127.0.1.3]:2222,app3\tecdsa-sha2-nistp256  AAAAbad2\n"
      "# @revoked * ssh-ed25519 AAAAcommented\n"
      "@cert-authority *.example ssh-ed25519 AAAAca\n"
      "@revoked * ssh-ed25519\n"  // no blob: nothing to match
      "|1|c2FsdA==|aGFzaA== ssh-rsa AAAArsa\n";
  EXPECT_EQ(revoked_keys(text), (std::set<std::string>{"AAAAbad1", "AAAAbad2"}));
  EXPECT_TRUE(revoked_keys("").empty());
}

TEST(KnownHosts, NonStandardPortsAreBracketed) {
  EXPECT_EQ(known_hosts_name("127.0.1.1", 22), "127.0.1.1");
  EXPECT_EQ(known_hosts_name("app1", 2222), "[app1]:2222");
}

TEST(KnownHosts, UnknownKeyMessageSaysHowToAddIt) {
  EXPECT_EQ(unknown_host_key_message("SHA256:abc", "127.0.1.1", 22, "/home/pg/.ssh/known_hosts"),
            "unknown host key SHA256:abc refused: check it out of band and add it with "
            "ssh-keyscan 127.0.1.1 >> /home/pg/.ssh/known_hosts, or run once with "
            "--strict-host-key-checking=accept-new");
  EXPECT_NE(unknown_host_key_message("SHA256:abc", "app1", 2222, "/my known_hosts")
                .find("ssh-keyscan -p 2222 app1 >> '/my known_hosts',"),
            std::string::npos);
}

TEST(KnownHosts, ChangedKeyMessageNamesTheEntryToRemove) {
  EXPECT_EQ(changed_host_key_message("SHA256:new", "127.0.1.1", 22, "/k", false),
            "host key CHANGED (now SHA256:new): possible man-in-the-middle, refused; if the change "
            "is legitimate, run ssh-keygen -f /k -R 127.0.1.1");
  EXPECT_NE(changed_host_key_message("SHA256:new", "app1", 2222, "/k", true)
                .find("host key of another type than known_hosts holds (now SHA256:new)"),
            std::string::npos);
  EXPECT_NE(changed_host_key_message("SHA256:new", "app1", 2222, "/k", false)
                .find("ssh-keygen -f /k -R '[app1]:2222'"),
            std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
