#include "util/text.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace pgdeploy {
namespace {

std::string hex(unsigned c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  return buf;
}

TEST(EscapeText, EveryControlCharacterAndDelBecomesItsHexEscape) {
  for (unsigned c = 0; c < 0x20; ++c) {
    std::string s = "a" + std::string(1, static_cast<char>(c)) + "b";
    EXPECT_EQ(escape_text(s), "a" + hex(c) + "b") << "byte " << c;
    EXPECT_EQ(escape_text(s, Escape::monitoring), "a" + hex(c) + "b") << "byte " << c;
  }
  EXPECT_EQ(escape_text("a\x7f"
                        "b"),
            "a\\x7fb");
  EXPECT_EQ(escape_text("node1\nWATCHDOG_USEC=1\nSTOPPING=1"), "node1\\x0aWATCHDOG_USEC=1\\x0aSTOPPING=1");
  EXPECT_EQ(escape_text("\x1b[2J\r"), "\\x1b[2J\\x0d");
}

TEST(EscapeText, PrintableAsciiIsKeptAndThePipeOnlyInMonitoringLines) {
  std::string ascii;
  for (char c = 0x20; c < 0x7f; ++c) ascii += c;
  EXPECT_EQ(escape_text(ascii), ascii);
  std::string pipe = ascii;
  pipe.replace(pipe.find('|'), 1, "\\x7c");
  EXPECT_EQ(escape_text(ascii, Escape::monitoring), pipe);
  EXPECT_EQ(escape_text("x|servers=0", Escape::monitoring), "x\\x7cservers=0");
}

TEST(EscapeText, EmptyStaysEmpty) {
  EXPECT_EQ(escape_text(""), "");
  EXPECT_EQ(escape_text("", Escape::monitoring), "");
  EXPECT_EQ(escape_lines(""), "");
}

TEST(EscapeText, ValidUtf8IsKept) {
  const std::string text = "Zürich – 東京 🐘 ñ";  // 2-, 3- and 4-byte characters
  EXPECT_EQ(escape_text(text), text);
  EXPECT_EQ(escape_text("\xc2\xa0"
                        "a\xf4\x8f\xbf\xbf"),
            "\xc2\xa0"
            "a\xf4\x8f\xbf\xbf");  // U+00A0, U+10FFFF
}

TEST(EscapeText, C1ControlsAndInvalidUtf8AreEscapedByteForByte) {
  EXPECT_EQ(escape_text("a\xc2\x9b"
                        "31m"),
            "a\\xc2\\x9b31m");                       // U+009B, a CSI to some terminals
  EXPECT_EQ(escape_text("\xc2\x85"), "\\xc2\\x85");  // U+0085, a line break to some
  EXPECT_EQ(escape_text("\x9b"), "\\x9b");           // a lone C1 byte
  EXPECT_EQ(escape_text("bad\xff"), "bad\\xff");
  EXPECT_EQ(escape_text("\xc3"), "\\xc3");                             // cut short at the end
  EXPECT_EQ(escape_text("\xc3(x"), "\\xc3(x");                         // cut short by a plain byte
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_text("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, 3 bytes
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a UTF-16 surrogate
  EXPECT_EQ(escape_text("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
}

TEST(EscapeText, EscapingTwiceChangesNothing) {
  for (std::string s : {std::string("a\nb|c\x1b\\x0a\xff\\ No newline", 24), std::string("é\x7f")}) {
    std::string once = escape_text(s, Escape::monitoring);
    EXPECT_EQ(escape_text(once, Escape::monitoring), once);
    EXPECT_EQ(escape_text(escape_text(s)), escape_text(s));
  }
}

TEST(EscapeText, BoundedNeverCutsAnEscapeOrACharacter) {
  EXPECT_EQ(escape_text("abcdef", Escape::text, 4), "abcd...");
  EXPECT_EQ(escape_text("abcdef", Escape::text, 6), "abcdef");
  EXPECT_EQ(escape_text("ab\ncd", Escape::text, 4), "ab...");  // not "ab\x"
  EXPECT_EQ(escape_text("ab\ncd", Escape::text, 6), "ab\\x0a...");
  EXPECT_EQ(escape_text("a東京", Escape::text, 5), "a東...");
}

TEST(EscapeLines, EachLineEscapedAndTheLineBreaksKept) {
  EXPECT_EQ(escape_lines("-a\r\n+b\x1b[0m\n\\ No newline at end of file\n"),
            "-a\\x0d\n+b\\x1b[0m\n\\ No newline at end of file\n");
  EXPECT_EQ(escape_lines("a|b\nc", Escape::monitoring), "a\\x7cb\nc");
}

}  // namespace
}  // namespace pgdeploy
