#include "remote/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace pgdeploy {
namespace {

using State = FrameReader::State;

std::string frame(const std::string& answer) {
  return "ANSWER " + std::to_string(answer.size()) + "\n" + answer;
}

// What a check answers when the include file routes a database named DONE: lines that start
// "DONE " inside the answer, before its own last line.
const std::string kAnswer =
    "FILE /etc/pgbouncer/databases/main.ini current\nPENDING\nINCLUDE 53\n"
    "; pgdeploy\nDONE = host=10.0.0.1 port=5432 dbname=DONE\n\nDONE ok\n"
    "CONSOLE none\nDONE ok\n";

// The bytes fed in the pieces given (their sizes), the last piece taking the rest.
FrameReader read_in(const std::string& bytes, const std::vector<size_t>& pieces, size_t max = 1 << 20) {
  FrameReader r(max);
  size_t at = 0;
  for (size_t n : pieces) {
    r.feed(std::string_view(bytes).substr(at, n));
    at = std::min(bytes.size(), at + n);
  }
  r.feed(std::string_view(bytes).substr(at));
  return r;
}

TEST(FrameReader, ReadsTheSameAnswerWhereverTheBytesAreSplit) {
  std::string bytes = frame(kAnswer);
  for (size_t cut = 0; cut <= bytes.size(); ++cut)
    for (size_t second = 0; cut + second <= bytes.size(); second += 7) {
      FrameReader r = read_in(bytes, {cut, second});
      ASSERT_EQ(r.state(), State::complete)
          << "split at " << cut << " and " << cut + second << ": " << r.why();
      EXPECT_EQ(r.answer(), kAnswer);
    }
  FrameReader one_by_one(1 << 20);
  for (char c : bytes) one_by_one.feed(std::string_view(&c, 1));
  EXPECT_EQ(one_by_one.state(), State::complete);
  EXPECT_EQ(one_by_one.answer(), kAnswer);
}

TEST(FrameReader, ALineStartingDoneInsideTheAnswerEndsNothing) {
  std::string bytes = frame(kAnswer);
  // Every piece that ends with a whole line "DONE ..." before the frame's end: still reading.
  for (size_t end = bytes.find("\nDONE "); end != std::string::npos; end = bytes.find("\nDONE ", end + 1)) {
    size_t line_end = bytes.find('\n', end + 1) + 1;
    if (line_end == bytes.size()) break;
    FrameReader r(1 << 20);
    EXPECT_EQ(r.feed(std::string_view(bytes).substr(0, line_end)), State::need_more) << line_end;
  }
}

TEST(FrameReader, AnAnswerCutShortNeedsMore) {
  for (const std::string bytes :
       {"", "A", "ANSWER", "ANSWER ", "ANSWER 1", "ANSWER 12", "ANSWER 12\n", "ANSWER 12\nDONE ok\n"}) {
    FrameReader r(1 << 20);
    EXPECT_EQ(r.feed(bytes), State::need_more) << bytes << ": " << r.why();
  }
}

TEST(FrameReader, AnEmptyAnswerIsCompleteAtItsHeader) {
  FrameReader r(1 << 20);
  EXPECT_EQ(r.feed("ANSWER 0\n"), State::complete);
  EXPECT_EQ(r.answer(), "");
}

TEST(FrameReader, TwoFramesInOneReadAreGarbled) {
  FrameReader r(1 << 20);
  EXPECT_EQ(r.feed(frame("DONE ok\n") + frame("DONE ok\n")), State::garbled);
  EXPECT_EQ(r.why(), "bytes after the end of the answer");
  EXPECT_EQ(r.answer(), "") << "nothing of a garbled frame is handed on";
}

TEST(FrameReader, AByteAfterACompleteFrameGarblesIt) {
  FrameReader r(1 << 20);
  ASSERT_EQ(r.feed(frame("DONE ok\n")), State::complete);
  EXPECT_EQ(r.feed(""), State::complete) << "no byte, no change";
  EXPECT_EQ(r.feed("\n"), State::garbled);
  EXPECT_EQ(r.feed(frame("DONE ok\n")), State::garbled);
  EXPECT_EQ(r.why(), "bytes after the end of the answer") << "the first reason is kept";
}

TEST(FrameReader, ABadHeaderIsGarbledAtItsFirstWrongByte) {
  struct Case {
    std::string bytes, why;
  } cases[] = {
      {"DONE ok\n", "not an answer frame (it must start \"ANSWER <length>\"): it starts \"D\""},
      {"answer 8\n", "not an answer frame (it must start \"ANSWER <length>\"): it starts \"a\""},
      {" ANSWER 8\n", "not an answer frame (it must start \"ANSWER <length>\"): it starts \" \""},
      {"ANSWER\n", "not an answer frame (it must start \"ANSWER <length>\"): it starts \"ANSWER\\x0a\""},
      {"ANSWER \n", "an answer frame without its length"},
      {"ANSWER -1\n", "the answer frame's length is not a number: \"ANSWER -\""},
      {"ANSWER +8\n", "the answer frame's length is not a number: \"ANSWER +\""},
      {"ANSWER 8 \n", "the answer frame's length is not a number: \"ANSWER 8 \""},
      {"ANSWER 8\r\n", "the answer frame's length is not a number: \"ANSWER 8\\x0d\""},
      {"ANSWER 0x8\n", "the answer frame's length is not a number: \"ANSWER 0x\""},
      {"ANSWER 08\n", "the answer frame's length has a leading zero: \"ANSWER 08\""},
      {"ANSWER 00\n", "the answer frame's length has a leading zero: \"ANSWER 00\""},
  };
  for (const Case& c : cases) {
    size_t bad = c.bytes.size() - 1;  // each case is wrong by its last byte before the '\n' at most
    while (bad > 0) {
      FrameReader probe(1 << 20);
      if (probe.feed(c.bytes.substr(0, bad)) != State::garbled) break;
      --bad;
    }
    FrameReader before(1 << 20);
    EXPECT_EQ(before.feed(c.bytes.substr(0, bad)), State::need_more) << c.bytes;
    FrameReader r(1 << 20);
    EXPECT_EQ(r.feed(c.bytes.substr(0, bad + 1)), State::garbled)
        << c.bytes << ": no wait for the line's end";
    EXPECT_EQ(r.why(), c.why) << c.bytes;
    EXPECT_EQ(r.feed("more"), State::garbled);
    EXPECT_EQ(r.why(), c.why) << "a garbled frame stays garbled, with its first reason";
  }
}

TEST(FrameReader, ALengthBeyondTheMostTakenIsGarbledBeforeItsBytesCome) {
  FrameReader at_most(100);
  EXPECT_EQ(at_most.feed(frame(std::string(100, 'x'))), State::complete);
  FrameReader over(100);
  EXPECT_EQ(over.feed("ANSWER 101"), State::garbled) << "at the digit that passes the bound";
  EXPECT_EQ(over.why(), "an answer of more than 100 bytes: not taken");
  FrameReader huge(1 << 20);
  EXPECT_EQ(huge.feed("ANSWER 99999999999999999999999999\n"), State::garbled)
      << "no overflow to a small length";
}

}  // namespace
}  // namespace pgdeploy
