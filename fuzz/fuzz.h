// What every fuzz target shares: how the input bytes become several strings, and how a broken
// property is reported (libFuzzer keeps the input of any abort as a crash artifact).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace pgdeploy::fuzz {

// The input scheme of every target: the bytes are split into fields at each 0x1F byte (ASCII's
// unit separator). A seed stays a text file, and a field can hold anything else, NUL and line
// breaks included. Fields the input does not reach are empty, so `at_least` can always be indexed.
inline std::vector<std::string> fields_of(const uint8_t* data, size_t size, size_t at_least) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0x1F) fields.emplace_back();
    else fields.back() += static_cast<char>(data[i]);
  }
  if (fields.size() < at_least) fields.resize(at_least);
  return fields;
}

// A value as C would write it, so that control bytes in a report can be read and retyped.
inline std::string escaped(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

// A property that does not hold: says which and on what, then aborts, which libFuzzer reports as
// a crash and keeps the input of.
[[noreturn]] inline void broken(const char* property, const std::string& value) {
  std::fprintf(stderr, "\nPROPERTY BROKEN: %s\n  on %s\n", property, escaped(value).c_str());
  std::abort();
}

inline void check(bool holds, const char* property, const std::string& value) {
  if (!holds) broken(property, value);
}

}  // namespace pgdeploy::fuzz
