// The bounds checked on raw bytes before sofia-sip parses a message, the
// framing of messages on a stream, and the skeleton a message over the limits
// is answered from.
#include "message_limits.hpp"

#include <gtest/gtest.h>

#include <string>

using homesip::core::check_message;
using homesip::core::frame_stream_message;
using homesip::core::MessageLimits;
using homesip::core::reply_skeleton;
using homesip::core::StreamFrame;

namespace {

const std::string kHead =
    "REGISTER sip:C1.D1.H1 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5000;branch=z9hG4bK1\r\n"
    "From: <sip:U1@C1.D1.H1>;tag=1\r\n"
    "To: <sip:U1@C1.D1.H1>\r\n"
    "Call-ID: limits@test\r\n"
    "CSeq: 1 REGISTER\r\n";

std::string message(const std::string& extra_headers, const std::string& body = "") {
  return kHead + extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string repeated(const std::string& piece, size_t count, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += (i ? separator : "") + piece;
  return out;
}

TEST(MessageLimits, AnOrdinaryRequestIsWithinEveryLimit) {
  const auto verdict = check_message(message("Contact: <sip:U1@127.0.0.1:5000>\r\n"), MessageLimits{});
  EXPECT_TRUE(verdict.ok()) << verdict.status << " " << verdict.reason;
}

TEST(MessageLimits, TooManyValuesInOneHeaderIsNamed) {
  MessageLimits limits;
  const std::string routes = "Route: " + repeated("<sip:p.example;lr>", 65, ", ") + "\r\n";
  const auto verdict = check_message(message(routes), limits);
  EXPECT_EQ(verdict.status, 400);
  EXPECT_EQ(verdict.reason, "Too Many Values In Route");
  EXPECT_EQ(verdict.limit, "max_header_values");
  const std::string at_limit = "Route: " + repeated("<sip:p.example;lr>", 64, ", ") + "\r\n";
  EXPECT_TRUE(check_message(message(at_limit), limits).ok());
}

TEST(MessageLimits, TheNamedHeaderKeepsOnlyTokenCharacters) {
  // Found by fuzz_message_limits: a colon on a folded line put CR LF into the reason.
  MessageLimits limits;
  limits.max_header_values = 4;
  EXPECT_EQ(check_message("R\n\r:,,,,", limits).reason, "Too Many Values In A Header");
  EXPECT_EQ(check_message("R\nX\r\n \x01Y:,,,,", limits).reason, "Too Many Values In XY");
  EXPECT_EQ(check_message(std::string("R\nX\0Y:,,,,", 10), limits).reason, "Too Many Values In XY");
}

TEST(MessageLimits, CommasInsideQuotesAndAnglesDoNotSeparate) {
  MessageLimits limits;
  limits.max_header_values = 4;
  // One value each: a display name with commas, a URI with commas in <>.
  const std::string quoted = "To: \"a, b, c, d, e, f\" <sip:U1@C1.D1.H1>\r\n";
  const std::string angled = "Contact: <sip:U1@h;x=1,2,3,4,5,6>\r\n";
  const std::string escaped = "Subject: \"a \\\", b, c, d, e\"\r\n";
  EXPECT_TRUE(check_message(message(angled + escaped), limits).ok());
  EXPECT_TRUE(check_message(kHead + quoted + "\r\n", limits).ok());
}

TEST(MessageLimits, FoldedLinesBelongToTheirField) {
  MessageLimits limits;
  limits.max_header_values = 3;
  const std::string folded = "Route: <sip:a>,\r\n <sip:b>,\r\n\t<sip:c>,\r\n <sip:d>\r\n";
  const auto verdict = check_message(message(folded), limits);
  EXPECT_EQ(verdict.status, 400);
  EXPECT_EQ(verdict.reason, "Too Many Values In Route");
}

TEST(MessageLimits, ContactsAreCountedOverEveryContactFieldIncludingCompactM) {
  MessageLimits limits;
  limits.max_contacts = 3;
  const std::string two = "Contact: <sip:a@h>, <sip:b@h>\r\n";
  EXPECT_TRUE(check_message(message(two + "m: <sip:c@h>\r\n"), limits).ok());
  const auto verdict = check_message(message(two + "m: <sip:c@h>, <sip:d@h>\r\n"), limits);
  EXPECT_EQ(verdict.status, 400);
  EXPECT_EQ(verdict.reason, "Too Many Contacts");
}

TEST(MessageLimits, TooManyHeaderFields) {
  MessageLimits limits;
  limits.max_headers = 20;
  const std::string fourteen = repeated("X-Pad: 1", 14, "\r\n") + "\r\n";  // + 6 in the message = 20
  EXPECT_TRUE(check_message(message(fourteen), limits).ok());
  const auto verdict = check_message(message(fourteen + "X-Pad: 2\r\n"), limits);
  EXPECT_EQ(verdict.status, 400);
  EXPECT_EQ(verdict.reason, "Too Many Headers");
}

TEST(MessageLimits, TooLargeIs513) {
  MessageLimits limits;
  limits.max_message_bytes = 1024;
  const auto verdict = check_message(message("", std::string(1024, 'x')), limits);
  EXPECT_EQ(verdict.status, 513);
  EXPECT_EQ(verdict.limit, "max_message_bytes");
}

TEST(MessageLimits, TheBodyIsNotScannedForHeaders) {
  MessageLimits limits;
  limits.max_header_values = 4;
  EXPECT_TRUE(check_message(message("", "a,b,c,d,e,f,g\r\nRoute: x,y,z,w,v,u\r\n"), limits).ok());
}

TEST(StreamFraming, AMessageEndsAfterItsContentLength) {
  const std::string one = message("", "v=0\r\n");
  const std::string buffered = one + "REGISTER sip:next";
  size_t searched = 0;
  const StreamFrame frame = frame_stream_message(buffered, searched);
  EXPECT_EQ(frame.state, StreamFrame::State::kComplete);
  EXPECT_EQ(frame.length, one.size());
}

TEST(StreamFraming, ABodyStillComingIsIncomplete) {
  const std::string one = message("", "v=0\r\n");
  size_t searched = 0;
  const StreamFrame frame = frame_stream_message(one.substr(0, one.size() - 2), searched);
  EXPECT_EQ(frame.state, StreamFrame::State::kIncomplete);
  EXPECT_EQ(frame.length, one.size());  // known once the headers are in: lets the caller refuse early
}

TEST(StreamFraming, TheSearchResumesWhereItStopped) {
  const std::string one = message("");
  size_t searched = 0;
  for (size_t n = 1; n < one.size(); ++n) {
    const StreamFrame frame = frame_stream_message(std::string_view(one).substr(0, n), searched);
    ASSERT_EQ(frame.state, StreamFrame::State::kIncomplete) << n;
  }
  const StreamFrame frame = frame_stream_message(one, searched);
  EXPECT_EQ(frame.state, StreamFrame::State::kComplete);
  EXPECT_EQ(frame.length, one.size());
}

TEST(StreamFraming, CrlfKeepalivesAreTheirOwnFrame) {
  size_t searched = 0;
  const StreamFrame frame = frame_stream_message("\r\n\r\nOPTIONS", searched);
  EXPECT_EQ(frame.state, StreamFrame::State::kKeepalive);
  EXPECT_EQ(frame.length, 4u);
}

TEST(StreamFraming, AnInvalidOrContradictoryContentLengthCannotBeFramed) {
  for (const std::string bad :
       {"Content-Length: -1\r\n", "Content-Length: ten\r\n", "Content-Length: 5\r\nl: 6\r\n",
        "Content-Length: 99999999999999999999999\r\n"}) {
    size_t searched = 0;
    const StreamFrame frame = frame_stream_message(kHead + bad + "\r\n", searched);
    EXPECT_EQ(frame.state, StreamFrame::State::kInvalid) << bad;
  }
}

TEST(StreamFraming, NoContentLengthMeansNoBody) {
  size_t searched = 0;
  const std::string head = kHead + "\r\n";
  const StreamFrame frame = frame_stream_message(head + "next", searched);
  EXPECT_EQ(frame.state, StreamFrame::State::kComplete);
  EXPECT_EQ(frame.length, head.size());
}

TEST(ReplySkeleton, KeepsTheStartLineAndTheFieldsAResponseCopies) {
  const std::string routes = "Route: " + repeated("<sip:p;lr>", 100, ",") + "\r\n";
  const std::string skeleton =
      reply_skeleton(message(routes + "Contact: <sip:U1@h>\r\n", "body"), MessageLimits{});
  EXPECT_EQ(skeleton, kHead + "\r\n");
}

TEST(ReplySkeleton, StopsAtTheFirstViaOverTheLimits) {
  MessageLimits limits;
  limits.max_header_values = 2;
  const std::string m =
      "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a, SIP/2.0/UDP b, SIP/2.0/UDP c\r\n"
      "Via: SIP/2.0/UDP d\r\nCall-ID: x\r\n\r\n";
  EXPECT_EQ(reply_skeleton(m, limits), "OPTIONS sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n");
}

}  // namespace
