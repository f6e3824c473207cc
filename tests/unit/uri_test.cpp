// The SDK's URI parser (sdk/include/homesip/uri.hpp): what it splits and what
// it refuses. Plugins decide on these parts (the redirect's tree names, a
// parent's address), so a malformed URI must come back as nullopt, not as a
// URI with a part missing.
#include "homesip/uri.hpp"

#include <gtest/gtest.h>

namespace {

using homesip::parse_uri;

TEST(ParseUri, SplitsEveryPart) {
  const auto uri = parse_uri("\"Lamp\" <sips:U1:secret@[2001:db8::1]:5061;transport=tls;lr?subject=x>;tag=9");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->scheme, "sips");
  EXPECT_EQ(uri->user, "U1");
  EXPECT_EQ(uri->host, "[2001:db8::1]");
  EXPECT_EQ(uri->port, "5061");
  EXPECT_EQ(uri->port_number(), 5061);
  EXPECT_EQ(uri->params, "transport=tls;lr");
  EXPECT_EQ(uri->headers, "subject=x");
  EXPECT_EQ(homesip::uri_param(uri->params, "TRANSPORT"), "tls");
  EXPECT_EQ(homesip::uri_param(uri->params, "lr"), "");
  EXPECT_FALSE(homesip::uri_param(uri->params, "maddr"));
  EXPECT_EQ(homesip::aor_of(*uri), "U1@[2001:db8::1]");
}

TEST(ParseUri, AHostWithoutAPortHasNone) {
  const auto uri = parse_uri("sip:U1@C1.D1.H1");
  ASSERT_TRUE(uri);
  EXPECT_EQ(uri->host, "C1.D1.H1");
  EXPECT_TRUE(uri->port.empty());
  EXPECT_EQ(uri->port_number(), 0);
}

// A ':' after the host promises a port (RFC 3261: port = 1*DIGIT). "U1@C1.D1.H:"
// was once read as host "C1.D1.H" (found by fuzz_names through the redirect's classify).
TEST(ParseUri, AColonWithoutAValidPortIsNoUri) {
  for (const char* text : {"sip:U1@C1.D1.H:", "sip:[2001:db8::1]:", "sip:h:0", "sip:h:65536", "sip:h:5x",
                           "sip:h:123456", "sip:U1@h:;lr", "sip:U1@h:?subject=x"})
    EXPECT_FALSE(parse_uri(text)) << text;
  EXPECT_TRUE(parse_uri("sip:h:65535"));
  EXPECT_TRUE(parse_uri("sip:[2001:db8::1]"));
}

TEST(ParseUri, WhatIsNoSipUriIsRefused) {
  for (const char* text : {"", "tel:+4912345", "sip:", "sip:@h", "sip:U1@", "sip:U1@h st", "<sip:h",
                           "h.example", "sip:[2001:db8::1"})
    EXPECT_FALSE(parse_uri(text)) << text;
}

}  // namespace
