// Bounds on a SIP message, checked on its raw bytes before sofia-sip parses
// it. sofia's list parser recurses once per comma-separated value (100,000
// Route values overflow the stack) and several paths grow with the product of
// header and value counts; nothing past these bounds reaches them. The scan is
// one linear pass over the header section.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace homesip::core {

// RFC 3261 25.1 token characters (header names, methods).
bool is_token_char(char c);

struct MessageLimits {
  size_t max_message_bytes = 65535;  // start line, headers and body (a UDP datagram's maximum)
  size_t max_headers = 100;          // header fields (folded lines count once)
  size_t max_header_values = 64;     // comma-separated values in one header field
  size_t max_contacts = 32;          // Contact values in one message, over all its Contact fields
};

// What a message exceeds: status 0 when it is within every limit, else the
// status to answer (513 Message Too Large, 413 for the body, 400 for counts)
// and a reason phrase that names the limit.
struct LimitVerdict {
  int status = 0;
  std::string reason;
  // The limit's config key, for the log line written when a limit first bites.
  std::string_view limit;
  bool ok() const { return status == 0; }
};

// Checks one whole message (a datagram, or a message framed on a stream).
LimitVerdict check_message(std::string_view message, const MessageLimits& limits);

// Where a message ends on a stream (RFC 3261 18.3: the header section, then
// Content-Length bytes of body).
struct StreamFrame {
  enum class State {
    kIncomplete,  // more bytes are needed
    kComplete,    // `length` bytes form one message
    kKeepalive,   // `length` bytes of CRLF keepalive (RFC 5626 3.5.1)
    kInvalid,     // no valid Content-Length: the stream cannot be framed any more
  };
  State state = State::kIncomplete;
  size_t length = 0;
};
// `searched` carries, from one call to the next on the same buffer, how far
// the blank line was already looked for (0 for a new message).
StreamFrame frame_stream_message(std::string_view buffered, size_t& searched);

// The start line and the header fields a response copies (Via, From, To,
// Call-ID, CSeq), each kept only while within `limits`, without body: small
// enough for sofia to parse, so a message over the limits still gets its
// answer through the one response writer. Via fields stop at the first one
// over the limits: a response must not skip the top Via.
std::string reply_skeleton(std::string_view message, const MessageLimits& limits);

// A request whose start line sofia cannot read although RFC 3261's grammar
// allows it (RFC 4475 3.1.1.4 intmeth: sofia refuses '+' and '`' in a method
// token), so no message object exists to answer from: its skeleton with a
// stand-in request line and without CSeq, plus the CSeq value to echo in the
// answer. nullopt when the start line is no request line at all.
struct StandInRequest {
  int status = 400;  // 501 for a method sofia cannot read, 400 when the line has a defect besides
  std::string method;
  std::string skeleton;
  std::string cseq;
};
std::optional<StandInRequest> stand_in_request(std::string_view message, const MessageLimits& limits);

}  // namespace homesip::core
