#include "render/token.h"

#include <cstdio>

namespace pgdeploy {

std::string digest_of(const std::string& body) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx-%zu", static_cast<unsigned long long>(h), body.size());
  return buf;
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
