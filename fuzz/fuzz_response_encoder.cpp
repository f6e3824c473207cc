// encode_response, the UDP responses written straight to bytes, on every
// request the server would answer: a parsed request with a Via, or (over the
// limits) the skeleton it answers from, or a stand-in for a method sofia
// cannot read. Checks the reply's own fields cannot break the header section.
//
// Input: a small prefix choosing the reply, then the SIP message.
//   byte 0     flags: 1 IPv6 source, 2 a Contact, 4 a header, 8 a body with
//              Content-Type, 16 contact ;expires=, 32 contact ;q=
//   bytes 1-2  status: 100 + (big-endian value % 600)
//   then five strings, each a length byte and its bytes: reason, contact
//   URI, header name, header value, body (content type "text/plain" + the
//   header value's first 8 bytes)
//   the rest   the request
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_sip.hpp"
#include "message_limits.hpp"
#include "response_encoder.hpp"

namespace {

bool take_string(std::string_view& in, std::string& out) {
  if (in.empty()) return false;
  const size_t n = static_cast<unsigned char>(in[0]);
  if (in.size() < 1 + n) return false;
  out.assign(in.substr(1, n));
  in.remove_prefix(1 + n);
  return true;
}

// What the encoder makes of a reply's text: CR and LF become spaces.
std::string sanitized(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\r' || c == '\n') c = ' ';
  return out;
}

bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// The response's lines are checked against what the reply asked for: the
// status line first; then, counted back from the blank line that ends the
// header section, exactly one line per Contact, header, Server,
// Content-Type and Content-Length, none with a CR or LF inside.
void check_response(const std::string& out, const homesip::Reply& reply) {
  FUZZ_CHECK(out.rfind("SIP/2.0 ", 0) == 0, "no status line: %.40s", out.c_str());
  const std::string status = std::to_string(reply.status);
  FUZZ_CHECK(out.compare(8, status.size(), status) == 0 && out[8 + status.size()] == ' ', "status code");

  // The status line ends at the first CR or LF, which must be its CRLF.
  const size_t status_end = out.find_first_of("\r\n");
  FUZZ_CHECK(status_end != std::string::npos && out.compare(status_end, 2, "\r\n") == 0,
             "status line not ended by CRLF");
  if (!reply.reason.empty()) {
    const std::string expected = "SIP/2.0 " + status + " " + sanitized(reply.reason);
    FUZZ_CHECK(out.compare(0, status_end, expected) == 0, "the reason broke the status line");
  }

  // The header section ends exactly where the body starts.
  FUZZ_CHECK(out.size() >= reply.body.size() + 4, "too short");
  const size_t body_at = out.size() - reply.body.size();
  FUZZ_CHECK(out.compare(body_at, std::string::npos, reply.body) == 0, "body not at the end");
  FUZZ_CHECK(out.compare(body_at - 4, 4, "\r\n\r\n") == 0, "no blank line before the body");
  const size_t blank = out.find("\r\n\r\n");
  FUZZ_CHECK(blank == body_at - 4, "the header section ends early, at %zu of %zu", blank, body_at - 4);

  std::vector<std::string> expected_starts;
  for (const auto& contact : reply.contacts)
    expected_starts.push_back("Contact: <" + sanitized(contact.uri) + ">");
  for (const auto& [name, value] : reply.headers)
    expected_starts.push_back(sanitized(name) + ": " + sanitized(value));
  expected_starts.push_back(std::string("Server: ") + homesip::core::kServerProduct);
  if (!reply.content_type.empty())
    expected_starts.push_back("Content-Type: " + sanitized(reply.content_type));
  expected_starts.push_back("Content-Length: " + std::to_string(reply.body.size()));

  // Walk back line by line from the end of the last header line.
  size_t end = body_at - 4;  // the CRLF of the last line starts here
  for (size_t i = expected_starts.size(); i-- > 0;) {
    const size_t begin = out.rfind("\r\n", end - 1);
    FUZZ_CHECK(begin != std::string::npos && begin >= status_end, "too few lines for the reply's fields");
    const std::string_view line(out.data() + begin + 2, end - begin - 2);
    const std::string& want = expected_starts[i];
    FUZZ_CHECK(!has_line_break(line), "a CR or LF inside the reply line %.60s", want.c_str());
    // A header line is exact; a Contact line may carry parameters after the '>'.
    const bool exact = i >= reply.contacts.size();
    FUZZ_CHECK(exact ? line == want : line.rfind(want, 0) == 0, "reply line %zu is \"%.*s\", not \"%.*s\"", i,
               static_cast<int>(std::min<size_t>(line.size(), 80)), line.data(),
               static_cast<int>(std::min<size_t>(want.size(), 80)), want.c_str());
    end = begin;
  }
}

volatile size_t sink;

void answer(const sip_t& request, const su_sockaddr_t& source, const homesip::Reply& reply) {
  std::string out;
  homesip::core::encode_response(request, source, reply, out);
  check_response(out, reply);
  const su_sockaddr_t to = homesip::core::response_destination(*request.sip_via, source);
  sink = out.size() + to.su_port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() < 3) return 0;
  const auto flags = static_cast<unsigned char>(in[0]);
  const unsigned status_value = static_cast<unsigned char>(in[1]) << 8 | static_cast<unsigned char>(in[2]);
  in.remove_prefix(3);
  std::string reason, contact_uri, header_name, header_value, body;
  if (!take_string(in, reason) || !take_string(in, contact_uri) || !take_string(in, header_name) ||
      !take_string(in, header_value) || !take_string(in, body))
    return 0;

  homesip::Reply reply(static_cast<int>(100 + status_value % 600), reason);
  if (flags & 2) {
    homesip::ReplyContact contact{contact_uri, std::nullopt, std::nullopt};
    if (flags & 16) contact.expires = status_value * 7919u;
    if (flags & 32) contact.q_millis = static_cast<uint16_t>(status_value % 1001);
    reply.contacts.push_back(contact);
  }
  if (flags & 4) reply.header(header_name, header_value);
  if (flags & 8) {
    reply.content_type = "text/plain" + header_value.substr(0, 8);
    reply.body = body;
  }

  socklen_t length = 0;
  const su_sockaddr_t from = homesip::fuzz::source_address(flags & 1, length);
  const homesip::core::MessageLimits limits;
  const std::string_view bytes = in;

  // As SipServer::receive: over the limits, the skeleton is parsed instead.
  std::string skeleton;
  std::string_view parsed = bytes;
  if (!homesip::core::check_message(bytes, limits).ok()) {
    skeleton = homesip::core::reply_skeleton(bytes, limits);
    parsed = skeleton;
  }
  msg_t* msg = homesip::core::parse_sip_message(parsed, from, length);
  if (!msg) return 0;
  const sip_t* sip = sip_object(msg);
  if (sip && sip->sip_request && sip->sip_via) {
    answer(*sip, from, reply);
  } else if (parsed.data() == bytes.data()) {
    // No request sofia reads: SipServer::answer_unreadable_method.
    if (const auto stand_in = homesip::core::stand_in_request(bytes, limits)) {
      msg_t* stand_in_msg = homesip::core::parse_sip_message(stand_in->skeleton, from, length);
      if (stand_in_msg) {
        const sip_t* s = sip_object(stand_in_msg);
        if (s && s->sip_request && s->sip_via && !stand_in->cseq.empty()) {
          homesip::Reply unreadable = reply;
          unreadable.header("CSeq", stand_in->cseq);
          answer(*s, from, unreadable);
        }
        msg_destroy(stand_in_msg);
      }
    }
  }
  msg_destroy(msg);
  return 0;
}
