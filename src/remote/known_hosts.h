// What the agent itself reads from known_hosts, beside libssh's own check: the keys marked
// @revoked (libssh 0.10 ignores those lines), and the hints an operator needs to fix a refusal.
#pragma once

#include <set>
#include <string>

namespace pgdeploy {

// The base64 key blobs of every "@revoked <hosts> <type> <base64> [comment]" line. A revoked key
// is refused for every host, whatever the line's host pattern: a key revoked for one host is
// nobody's good key. The blob names its type inside, so the blob alone identifies the key.
std::set<std::string> revoked_keys(const std::string& known_hosts_text);

// How known_hosts names a host: "host", or "[host]:port" for a port other than 22.
std::string known_hosts_name(const std::string& host, unsigned port);

// The refusal of a host key known_hosts does not hold, with how to add it.
std::string unknown_host_key_message(const std::string& fingerprint, const std::string& host, unsigned port,
                                     const std::string& known_hosts_file);

// The refusal of a key that differs from the one known_hosts holds (`other_type`: of another
// type than the one known_hosts holds), with how to remove the old one if the change is
// legitimate.
std::string changed_host_key_message(const std::string& fingerprint, const std::string& host, unsigned port,
                                     const std::string& known_hosts_file, bool other_type);

}  // namespace pgdeploy
