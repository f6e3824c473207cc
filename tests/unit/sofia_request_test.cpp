// SofiaRequest's header views over a message sofia parsed as the server does.
#include "sofia_request.hpp"

#include <gtest/gtest.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip_protos.h>

#include <string>

#include "sip_message.hpp"

namespace homesip::core {
namespace {

const std::string kRegister =
    "REGISTER sip:C1.D1.H1 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1;rport\r\n"
    "Via: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK-2;received=10.0.0.9\r\n"
    "f: <sip:U1@C1.D1.H1>;tag=from-1\r\n"
    "t: <sip:U1@C1.D1.H1>;tag=to-1\r\n"
    "i: reg-1@192.0.2.7\r\n"
    "CSeq: 7 REGISTER\r\n"
    "Route: <sip:a.example>, <sip:b.example>\r\n"
    "Route: <sip:c.example>\r\n"
    "Authorization: Digest username=\"U1\", realm=\"C1.D1.H1\"\r\n"
    "Authorization: Digest username=\"U1\", realm=\"other\"\r\n"
    "o: presence;id=1\r\n"
    "X-Thing: one\r\n"
    "x-thing: two\r\n"
    "m: <sip:U1@192.0.2.7:5060>;expires=60\r\n"
    "Content-Length: 0\r\n\r\n";

class SofiaRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    su_sockaddr_t from{};
    from.su_family = AF_INET;
    msg_ = parse_sip_message(kRegister, from, sizeof from.su_sin);
    ASSERT_NE(msg_, nullptr);
  }
  void TearDown() override { msg_destroy(msg_); }
  SofiaRequest request() const { return SofiaRequest(msg_, sip_object(msg_), "udp"); }
  msg_t* msg_ = nullptr;
};

TEST_F(SofiaRequestTest, EveryLineOfAHeaderInOrderUnderAnyName) {
  const auto r = request();
  EXPECT_EQ(r.headers("Route"),
            (std::vector<std::string_view>{"<sip:a.example>, <sip:b.example>", "<sip:c.example>"}));
  EXPECT_EQ(r.headers("authorization"),
            (std::vector<std::string_view>{"Digest username=\"U1\", realm=\"C1.D1.H1\"",
                                           "Digest username=\"U1\", realm=\"other\""}));
  EXPECT_EQ(r.headers("X-Thing"), (std::vector<std::string_view>{"one", "two"}));
  EXPECT_EQ(r.header("Contact"), "<sip:U1@192.0.2.7:5060>;expires=60");
  EXPECT_EQ(r.header("m"), "<sip:U1@192.0.2.7:5060>;expires=60");
  EXPECT_EQ(r.header("Event"), "presence;id=1");
  EXPECT_EQ(r.header("Call-ID"), "reg-1@192.0.2.7");
  EXPECT_FALSE(r.header("Subject").has_value());
  EXPECT_FALSE(r.header("Bad Name").has_value());
  EXPECT_TRUE(r.headers("Subject").empty());
}

TEST_F(SofiaRequestTest, TagsEventAndVias) {
  const auto r = request();
  EXPECT_EQ(r.from_tag(), "from-1");
  EXPECT_EQ(r.to_tag(), "to-1");
  EXPECT_EQ(r.event(), "presence");
  const auto vias = r.vias();
  ASSERT_EQ(vias.size(), 2u);
  EXPECT_EQ(vias[0].transport, "UDP");
  EXPECT_EQ(vias[0].host, "192.0.2.7");
  EXPECT_EQ(vias[0].port, "5060");
  EXPECT_EQ(vias[0].branch, "z9hG4bK-1");
  EXPECT_EQ(vias[1].transport, "TCP");
  EXPECT_EQ(vias[1].received, "10.0.0.9");
}

}  // namespace
}  // namespace homesip::core
