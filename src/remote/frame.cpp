#include "remote/frame.h"

#include <algorithm>

#include "util/text.h"

namespace pgdeploy {
namespace {

constexpr std::string_view kWord = "ANSWER ";

// Remote bytes in a message, quoted and escaped (util/text).
std::string shown(const std::string& s) { return "\"" + escape_text(s) + "\""; }

}  // namespace

FrameReader::State FrameReader::garble(const std::string& why) {
  why_ = why;
  answer_.clear();
  return state_ = State::garbled;
}

FrameReader::State FrameReader::feed(std::string_view bytes) {
  // Byte by byte through the header (18 bytes at most), so that where a piece ends changes
  // nothing; the body in bulk.
  size_t at = 0;
  for (; state_ == State::need_more && !in_body_ && at < bytes.size(); ++at) {
    char c = bytes[at];
    size_t digits = header_.size() < kWord.size() ? 0 : header_.size() - kWord.size();
    if (header_.size() < kWord.size()) {
      if (c != kWord[header_.size()])
        return garble("not an answer frame (it must start \"ANSWER <length>\"): it starts " +
                      shown(header_ + c));
    } else if (c == '\n') {
      if (digits == 0) return garble("an answer frame without its length");
      in_body_ = true;
      if (length_ == 0) state_ = State::complete;
      continue;
    } else if (c < '0' || c > '9') {
      return garble("the answer frame's length is not a number: " + shown(header_ + c));
    } else if (digits == 1 && length_ == 0) {
      return garble("the answer frame's length has a leading zero: " + shown(header_ + c));
    } else {
      length_ = length_ * 10 + static_cast<size_t>(c - '0');
      if (length_ > max_)  // checked at each digit: no overflow, and no wait for the rest
        return garble("an answer of more than " + std::to_string(max_) + " bytes: not taken");
    }
    header_ += c;
  }
  if (state_ == State::garbled) return state_;
  if (state_ == State::need_more && in_body_) {
    size_t take = std::min(bytes.size() - at, length_ - answer_.size());
    answer_.append(bytes.substr(at, take));
    at += take;
    if (answer_.size() == length_) state_ = State::complete;
  }
  if (at < bytes.size()) return garble("bytes after the end of the answer");
  return state_;
}

}  // namespace pgdeploy
