// The reader of the resident program's answers (FrameReader, src/remote/frame.h): the one place
// that decides where an app server's answer ends, so that no answer can be taken for another's.
//
// Fields (fuzz.h): 0 the longest answer taken, in decimal (anything else, or above 1 MiB: 1 MiB);
// 1 where the stream is cut, one piece per byte of that byte's value in bytes (0: an empty
// piece), the last piece being the rest; 2 and after, joined again by 0x1F, the stream's bytes.
// Beyond "no crash":
// - the reader, fed the bytes whole, one by one, or in the pieces given, says the same: state,
//   answer and reason (where a read ends never matters);
// - it agrees with a reference that reads the whole stream at once, by the rules of src/README.md
//   ("Resident mode"): a complete answer is exactly the declared bytes, and the stream is exactly
//   its frame, nothing before or after;
// - a garbled frame says why, in one printable line of bounded length;
// - the stream's bytes as an answer, framed (if not too long): every cut of the frame before its
//   end needs more, the frame reads back as exactly those bytes, and one byte more garbles it.
#include <charconv>

#include "fuzz.h"
#include "remote/frame.h"

namespace pgdeploy::fuzz {
namespace {

using State = FrameReader::State;

struct Read {
  State state = State::need_more;
  std::string answer, why;
  bool operator==(const Read&) const = default;
};

Read result(const FrameReader& r) {
  return {r.state(), r.state() == State::complete ? r.answer() : "", r.why()};
}

const char* name(State s) {
  return s == State::complete ? "complete" : s == State::garbled ? "garbled" : "need_more";
}

// The rules read off the whole stream at once, without the reader's byte-by-byte state.
Read reference(const std::string& b, size_t max) {
  const std::string word = "ANSWER ";
  Read r;
  r.state = State::garbled;
  if (b.compare(0, std::min(b.size(), word.size()), word, 0, std::min(b.size(), word.size())) != 0) return r;
  if (b.size() < word.size()) return {State::need_more, "", ""};
  size_t digits_end = b.find_first_not_of("0123456789", word.size());
  size_t end = digits_end == std::string::npos ? b.size() : digits_end;
  std::string digits = b.substr(word.size(), end - word.size());
  if (digits.size() > 1 && digits[0] == '0') return r;
  size_t length = 0;
  for (char c : digits) {
    length = length * 10 + static_cast<size_t>(c - '0');
    if (length > max) return r;
  }
  if (end == b.size()) return {State::need_more, "", ""};
  if (b[end] != '\n' || digits.empty()) return r;
  std::string body = b.substr(end + 1);
  if (body.size() < length) return {State::need_more, "", ""};
  if (body.size() > length) return r;
  return {State::complete, body, ""};
}

}  // namespace
}  // namespace pgdeploy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using namespace pgdeploy::fuzz;
  std::vector<std::string> f = fields_of(data, size, 3);
  size_t max = 1 << 20;
  if (size_t m = 0; std::from_chars(f[0].data(), f[0].data() + f[0].size(), m).ec == std::errc() && m <= max)
    max = m;
  const std::string& cuts = f[1];
  std::string bytes = f[2];
  for (size_t i = 3; i < f.size(); ++i) bytes += "\x1f" + f[i];
  const std::string all = std::to_string(max) + "\x1f" + cuts + "\x1f" + bytes;

  // The same bytes, split three ways.
  FrameReader whole(max);
  whole.feed(bytes);
  FrameReader single(max);
  for (char c : bytes) single.feed(std::string_view(&c, 1));
  FrameReader pieces(max);
  size_t at = 0;
  for (unsigned char n : cuts) {
    pieces.feed(std::string_view(bytes).substr(at, n));
    at = std::min(bytes.size(), at + n);
  }
  pieces.feed(std::string_view(bytes).substr(at));
  Read read = result(whole);
  check(result(single) == read, "fed byte by byte, the same result as fed whole", all);
  check(result(pieces) == read, "fed in the pieces given, the same result as fed whole", all);

  Read ref = reference(bytes, max);
  if (read.state != ref.state)
    broken((std::string("the reader says ") + name(read.state) + ", the rules " + name(ref.state)).c_str(),
           all);
  if (read.state == State::complete) {
    check(read.answer == ref.answer, "a complete answer is exactly the declared bytes", all);
    check(bytes == "ANSWER " + std::to_string(read.answer.size()) + "\n" + read.answer,
          "a complete stream is its frame and nothing else", all);
    check(read.answer.size() <= max, "no answer longer than the most taken", all);
  }
  if (read.state == State::garbled) {
    check(!read.why.empty() && read.why.size() <= 200, "a garbled frame says why, briefly", all);
    for (unsigned char c : read.why) check(c >= 0x20 && c != 0x7f, "the reason is printable", all);
  } else {
    check(read.why.empty(), "no reason unless garbled", all);
  }

  // The bytes as an answer: framed, they read back whole, whatever the cuts.
  if (bytes.size() <= max) {
    std::string frame = "ANSWER " + std::to_string(bytes.size()) + "\n" + bytes;
    FrameReader r(max);
    size_t fed = 0;
    for (unsigned char n : cuts) {
      size_t piece = std::min<size_t>(n, frame.size() - fed);
      if (fed + piece == frame.size()) break;
      check(r.feed(std::string_view(frame).substr(fed, piece)) == State::need_more,
            "every cut of a frame before its end needs more", all);
      fed += piece;
    }
    check(r.feed(std::string_view(frame).substr(fed)) == State::complete, "a frame reads back complete", all);
    check(r.answer() == bytes, "a frame reads back as exactly its bytes", all);
    check(r.feed("D") == State::garbled, "a byte after the frame garbles it", all);
  }
  return 0;
}
