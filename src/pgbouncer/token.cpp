#include "pgbouncer/token.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace pgdeploy {

std::string digest_of(const std::string& body) {
  // SHA-256: the digest is all that says "this file is current" on the remote side, so a body
  // crafted to collide (a chosen salt in a verifier) must not be able to hide a change.
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(body.data(), body.size(), hash, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL cannot compute SHA-256");
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[hash[i] >> 4];
    out += hex[hash[i] & 15];
  }
  return out;
}

std::string header_line(char comment, const Token& t, const std::string& digest) {
  return std::string(1, comment) + " pgdeploy cluster=" + t.cluster +
         " primary=" + std::to_string(t.primary_id) + " timeline=" + std::to_string(t.timeline) +
         " generation=" + std::to_string(t.generation) + " digest=" + digest;
}

TokenedFile with_header(char comment, const Token& token, const std::string& body) {
  std::string digest = digest_of(body);
  return {header_line(comment, token, digest) + "\n" + body, digest};
}

}  // namespace pgdeploy
