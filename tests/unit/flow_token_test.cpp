// Flow tokens (core/src/flow_token.*): what a Record-Route of ours carries
// to name a phone's connection. Only this process's own tokens open.
#include "flow_token.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace homesip::core {
namespace {

const std::string kDialog = "a84b4c76e66710@pc33.example.org";

TEST(FlowTokens, ASealedSourceOpensAgainInItsDialog) {
  const FlowTokens tokens;
  for (const std::string source : {"tls:192.0.2.7:40112", "tcp:[2001:db8::1]:5060"}) {
    const std::string token = tokens.seal(source, kDialog);
    EXPECT_EQ(token.rfind(source + "~", 0), 0u) << token;
    EXPECT_EQ(tokens.open(token, kDialog), source);
  }
}

TEST(FlowTokens, AnotherDialogSourceMacOrSecretOrNoMacIsRefused) {
  const FlowTokens tokens;
  const std::string token = tokens.seal("tls:192.0.2.7:40112", kDialog);
  EXPECT_EQ(tokens.open(token, "another-call@pc33.example.org"), std::nullopt);
  std::string other_port = token;
  other_port.replace(other_port.find("40112"), 5, "40113");
  EXPECT_EQ(tokens.open(other_port, kDialog), std::nullopt);
  std::string other_mac = token;
  other_mac.back() = other_mac.back() == '0' ? '1' : '0';
  EXPECT_EQ(tokens.open(other_mac, kDialog), std::nullopt);
  EXPECT_EQ(FlowTokens().open(token, kDialog), std::nullopt);  // a restarted server's secret differs
  EXPECT_EQ(tokens.open("tls:192.0.2.7:40112", kDialog), std::nullopt);
  EXPECT_EQ(tokens.open(token.substr(0, token.size() - 1), kDialog), std::nullopt);
  EXPECT_EQ(tokens.open("", kDialog), std::nullopt);
}

TEST(FlowTokens, AMacMatchesOnlyItsTextUnderThisSecret) {
  const FlowTokens tokens;
  const std::string mac = tokens.mac("branch text", 8);
  EXPECT_EQ(mac.size(), 16u);
  EXPECT_TRUE(tokens.matches("branch text", mac));
  EXPECT_FALSE(tokens.matches("branch texT", mac));
  EXPECT_FALSE(FlowTokens().matches("branch text", mac));
  EXPECT_FALSE(tokens.matches("branch text", ""));
  EXPECT_FALSE(tokens.matches("branch text", mac.substr(1)));
}

TEST(FlowTokens, OnlyAConnectionWithAnAddressIsAFlow) {
  const std::optional<FlowAddress> v4 = parse_flow("tls:192.0.2.7:40112");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->transport, "tls");
  const auto* in = reinterpret_cast<const sockaddr_in*>(&v4->peer);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in->sin_port), 40112);
  const std::optional<FlowAddress> v6 = parse_flow("tcp:[2001:db8::1]:5060");
  ASSERT_TRUE(v6);
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&v6->peer)->sin6_family, AF_INET6);
  for (const char* not_a_flow : {"udp:192.0.2.7:5060", "tls:example.org:5061", "tls:192.0.2.7:0",
                                 "tls:192.0.2.7:65536", "tls:192.0.2.7:", "tls:192.0.2.7", "", "tls::1"})
    EXPECT_EQ(parse_flow(not_a_flow), std::nullopt) << not_a_flow;
}

}  // namespace
}  // namespace homesip::core
