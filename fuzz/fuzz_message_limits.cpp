// The raw-byte checks that run before sofia-sip sees a message
// (core/src/message_limits.*): check_message, stream framing fed in pieces,
// reply_skeleton and stand_in_request.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "message_limits.hpp"

using homesip::core::MessageLimits;
using homesip::core::StreamFrame;

namespace {

// A small, input-derived piece size (1..64), so the stream is fed as TCP
// might deliver it.
size_t piece_size(std::string_view data, size_t at) {
  uint32_t h = 2166136261u;
  for (size_t i = at; i < data.size() && i < at + 4; ++i)
    h = (h ^ static_cast<unsigned char>(data[i])) * 16777619u;
  return 1 + h % 64;
}

// Feeds `data` to frame_stream_message as a stream receives it: bytes arrive
// in pieces, each complete message (or keepalive) is taken off the front,
// and `searched` carries over between calls on the same buffer.
void frame_in_pieces(std::string_view data) {
  std::string buffer;
  size_t searched = 0;
  size_t fed = 0;
  size_t calls = 0;
  while (fed < data.size()) {
    const size_t n = std::min(piece_size(data, fed), data.size() - fed);
    buffer.append(data.substr(fed, n));
    fed += n;
    while (!buffer.empty()) {
      FUZZ_CHECK(++calls < 4 * data.size() + 16, "framing does not progress");
      const StreamFrame frame = homesip::core::frame_stream_message(buffer, searched);
      if (frame.state == StreamFrame::State::kComplete) {
        FUZZ_CHECK(frame.length <= buffer.size(), "complete frame of %zu bytes in %zu buffered", frame.length,
                   buffer.size());
        FUZZ_CHECK(frame.length > 0, "empty complete frame");
        buffer.erase(0, frame.length);
        searched = 0;
      } else if (frame.state == StreamFrame::State::kKeepalive) {
        FUZZ_CHECK(frame.length > 0, "empty keepalive");
        FUZZ_CHECK(frame.length <= buffer.size(), "keepalive of %zu bytes in %zu buffered", frame.length,
                   buffer.size());
        buffer.erase(0, frame.length);
        searched = 0;
      } else if (frame.state == StreamFrame::State::kInvalid) {
        return;  // the connection is closed
      } else {
        FUZZ_CHECK(searched <= buffer.size(), "searched %zu past %zu buffered", searched, buffer.size());
        break;  // wait for more bytes
      }
    }
  }
  // The same bytes in one piece frame the first message the same way.
  if (!data.empty()) {
    size_t fresh = 0;
    const StreamFrame whole = homesip::core::frame_stream_message(data, fresh);
    if (whole.state == StreamFrame::State::kComplete || whole.state == StreamFrame::State::kKeepalive)
      FUZZ_CHECK(whole.length <= data.size() && whole.length > 0, "frame length %zu of %zu", whole.length,
                 data.size());
  }
}

void check_skeleton(const std::string& skeleton, std::string_view message, std::string_view what) {
  // The message's start line (or a stand-in of 37 bytes) and copied fields
  // (the message's own bytes, at most), a line end for the start line and
  // for a last field without one, and the blank line.
  FUZZ_CHECK(skeleton.size() <= message.size() + 64, "%.*s of %zu bytes from %zu",
             static_cast<int>(what.size()), what.data(), skeleton.size(), message.size());
  // It ends in a blank line: CRLF CRLF, or LF CRLF after a field copied
  // with the bare LF its message used (sofia accepts LF line ends).
  FUZZ_CHECK(skeleton.size() >= 3 && skeleton.compare(skeleton.size() - 3, 3, "\n\r\n") == 0,
             "%.*s does not end in a blank line", static_cast<int>(what.size()), what.data());
  // With CRLF line ends only, exactly CRLF CRLF.
  bool bare_lf = false;
  for (size_t i = 0; i < message.size() && !bare_lf; ++i)
    bare_lf = message[i] == '\n' && (i == 0 || message[i - 1] != '\r');
  if (!bare_lf)
    FUZZ_CHECK(skeleton.compare(skeleton.size() - 4, 4, "\r\n\r\n") == 0, "%.*s does not end in CRLFCRLF",
               static_cast<int>(what.size()), what.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);

  const MessageLimits defaults;
  MessageLimits tight;  // limits the fuzzer reaches easily
  tight.max_message_bytes = 2048;
  tight.max_headers = 8;
  tight.max_header_values = 4;
  tight.max_contacts = 3;

  for (const MessageLimits* limits : {&defaults, static_cast<const MessageLimits*>(&tight)}) {
    const auto verdict = homesip::core::check_message(message, *limits);
    FUZZ_CHECK(verdict.ok() == (verdict.status == 0), "ok() disagrees with status %d", verdict.status);
    if (!verdict.ok()) {
      FUZZ_CHECK(verdict.status == 400 || verdict.status == 413 || verdict.status == 513, "status %d",
                 verdict.status);
      FUZZ_CHECK(!verdict.reason.empty() && !verdict.limit.empty(), "unnamed verdict");
      FUZZ_CHECK(verdict.reason.find_first_of("\r\n") == std::string::npos, "CR/LF in the reason");
    } else {
      FUZZ_CHECK(message.size() <= limits->max_message_bytes, "%zu bytes passed", message.size());
    }

    const std::string skeleton = homesip::core::reply_skeleton(message, *limits);
    check_skeleton(skeleton, message, "reply_skeleton");

    if (const auto stand_in = homesip::core::stand_in_request(message, *limits)) {
      check_skeleton(stand_in->skeleton, message, "stand_in skeleton");
      FUZZ_CHECK(!stand_in->method.empty(), "empty method");
      FUZZ_CHECK(stand_in->cseq.find_first_of("\r\n") == std::string::npos, "CR/LF in the CSeq value");
      FUZZ_CHECK(stand_in->skeleton.rfind("UNREADABLE-METHOD sip:invalid SIP/2.0\r\n", 0) == 0,
                 "stand-in start line");
    }
  }

  frame_in_pieces(message);
  return 0;
}
