// How a resident program's answers travel (src/README.md, "Resident mode"): each is one frame,
// the line "ANSWER <length>\n" and then exactly <length> bytes. The length alone says where an
// answer ends, so nothing it holds (a line "DONE ...", a file's bytes) can end it early or late.
// Transport only: what the bytes say is pgbouncer/push's business.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgdeploy {

// Reads one frame from the bytes of a stream as they arrive, in pieces of any size: the same
// bytes give the same result however they are split. A byte past the frame's end garbles it
// (the program writes nothing but answers, one per request, so it can only be a stray).
class FrameReader {
 public:
  enum class State { need_more, complete, garbled };

  // `max_length`: the longest answer taken; a frame that declares more is garbled at once.
  explicit FrameReader(size_t max_length) : max_(max_length) {}

  // Takes the next bytes; the state after them. complete and garbled are final: once complete,
  // any further byte garbles the frame; once garbled, it stays so, with its first reason.
  State feed(std::string_view bytes);

  State state() const { return state_; }
  const std::string& answer() const { return answer_; }  // complete: exactly the declared bytes
  const std::string& why() const { return why_; }        // garbled: why, one printable line

 private:
  State garble(const std::string& why);

  size_t max_;
  State state_ = State::need_more;
  std::string header_;  // the header line as far as it has come, its '\n' not included
  bool in_body_ = false;
  size_t length_ = 0;  // declared, once the header is whole
  std::string answer_, why_;
};

}  // namespace pgdeploy
