#include "util/text.h"

namespace pgdeploy {
namespace {

// The length of the valid UTF-8 character at the start of `s` (0: none, or a C1 control).
size_t character(std::string_view s) {
  auto byte = [&s](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  auto tail = [&byte](size_t i) { return (byte(i) & 0xC0) == 0x80; };
  unsigned c = byte(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return tail(1) && !(c == 0xC2 && byte(1) < 0xA0) ? 2 : 0;  // no C1
  if (c >= 0xE0 && c <= 0xEF) {
    // no overlong forms (E0 80..9F), no UTF-16 surrogates (ED A0..BF)
    bool ok = tail(1) && tail(2) && !(c == 0xE0 && byte(1) < 0xA0) && !(c == 0xED && byte(1) >= 0xA0);
    return ok ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    // no overlong forms (F0 80..8F), nothing past U+10FFFF (F4 90..)
    bool ok = tail(1) && tail(2) && tail(3) && !(c == 0xF0 && byte(1) < 0x90) &&
              !(c == 0xF4 && byte(1) >= 0x90);
    return ok ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::string escape_text(std::string_view s, Escape how, size_t max) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = character(s.substr(i));
    std::string piece;
    if (n == 0 || c < 0x20 || c == 0x7F || (c == '|' && how == Escape::monitoring)) {
      piece = {'\\', 'x', hex[c >> 4], hex[c & 0xF]};
      n = 1;
    } else {
      piece = s.substr(i, n);
    }
    if (out.size() + piece.size() > max) return out + "...";
    out += piece;
    i += n;
  }
  return out;
}

std::string escape_lines(std::string_view text, Escape how) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    out += escape_text(text.substr(pos, end - pos), how);
    if (nl != std::string_view::npos) out += '\n';
    pos = end + 1;
  }
  return out;
}

}  // namespace pgdeploy
