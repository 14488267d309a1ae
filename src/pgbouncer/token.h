// The fencing token: the first line of every file the agent writes says which truth it carries,
// so that an older truth never replaces a newer one, and an unchanged file is never rewritten.
#pragma once

#include <cstdint>
#include <string>

namespace pgdeploy {

struct Token {
  std::string cluster;
  int primary_id = 0;
  long timeline = 0;
  uint64_t generation = 0;  // the primary's WAL position when the agent proved it
};

// The SHA-256 of a file's body, 64 lowercase hex digits: equal bodies, equal digests, and no
// practical way to make two different bodies look equal.
std::string digest_of(const std::string& body);

// "<comment> pgdeploy cluster=C primary=N timeline=T generation=G digest=D"; the digest comes
// last so that the remote side can compare it with a plain suffix match.
std::string header_line(char comment, const Token& token, const std::string& digest);

// A file as written: header line, then body; and the body's digest, which the header ends with.
struct TokenedFile {
  std::string content;
  std::string digest;
};
TokenedFile with_header(char comment, const Token& token, const std::string& body);

}  // namespace pgdeploy
