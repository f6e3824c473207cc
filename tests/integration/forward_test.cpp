// Stateless forwarding (IncomingRequest::forward, RFC 3261 16.11) over real
// sockets: homesipd with the test-forward plugin sits between a caller and a
// callee played by plain sockets. The request arrives at the callee with the
// core's Via on top, Max-Forwards one less, the Route naming the server gone
// and the Request-URI replaced; the callee's answers come back to the caller
// without that Via; retransmissions and the CANCEL keep the branch.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

constexpr auto kWait = std::chrono::milliseconds(3000);

// The head's lines and header values (test_support.hpp), by their short names here.
std::vector<std::string> headers(const std::string& message, const std::string& name) {
  return header_values(message, name);
}
std::string first_line(const std::string& message) { return start_line(message); }

// "branch=z9hG4bK..." of a Via value.
std::string branch_of(const std::string& via) {
  const auto at = via.find("branch=");
  if (at == std::string::npos) return "";
  return via.substr(at + 7, via.find(';', at) - at - 7);
}

// The port of a Via's rport=, else of its sent-by.
uint16_t reply_port_of(const std::string& via) {
  const auto rport = via.find(";rport=");
  if (rport != std::string::npos) return static_cast<uint16_t>(std::stoi(via.substr(rport + 7)));
  const auto colon = via.find(':', via.find(' '));
  return static_cast<uint16_t>(std::stoi(via.substr(colon + 1)));
}

// The callee's answer to `request`: its Vias, From, To (with a tag),
// Call-ID and CSeq, sent where its top Via says.
void answer(const UdpSocket& callee, const std::string& request, int status, const std::string& reason) {
  std::string response = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& via : headers(request, "Via")) response += "Via: " + via + "\r\n";
  response += "From: " + headers(request, "From").at(0) + "\r\n";
  response += "To: " + headers(request, "To").at(0) + ";tag=callee\r\n";
  response += "Call-ID: " + headers(request, "Call-ID").at(0) + "\r\n";
  response += "CSeq: " + headers(request, "CSeq").at(0) + "\r\nContent-Length: 0\r\n\r\n";
  callee.send(reply_port_of(headers(request, "Via").at(0)), response);
}

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: test-forward\n    target: sip:callee@127.0.0.1:" +
                                std::to_string(callee_.port()) + "\n",
                            ""});
    server_->set_extra_arguments(
        {"--set", "server.plugin_dirs=[" + std::string(HOMESIP_TEST_FIXTURE_PLUGIN_DIR) + "]"});
    server_->start();
  }

  // An INVITE from the caller (over `transport` from `port`), routed through the server.
  std::string invite(const std::string& transport, uint16_t port, const std::string& branch,
                     const std::string& method = "INVITE", const std::string& extra = "") const {
    const std::string route = "<sip:127.0.0.1:" + std::to_string(server_->port()) + ";lr>";
    return crlf(method + " sip:U1@C1.D1.H1 SIP/2.0\nVia: SIP/2.0/" + transport + " 127.0.0.1:" +
                std::to_string(port) + ";rport;branch=" + branch + "\nRoute: " + route + "\n" + extra +
                "Max-Forwards: 70\nFrom: <sip:U2@C1.D1.H2>;tag=caller\nTo: <sip:U1@C1.D1.H1>\n"
                "Call-ID: fwd-" +
                branch + "@test\nCSeq: 1 " + method + "\nContent-Length: 0\n\n");
  }
  std::string log() const { return read_file(server_->log()); }

  TempDir dir_;
  UdpSocket caller_;
  UdpSocket callee_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(ForwardTest, InviteGoesOnWithOurViaAndItsAnswersComeBackWithout) {
  const std::string request = invite("UDP", caller_.port(), "z9hG4bKinv1");
  caller_.send(server_->port(), request);
  const std::string forwarded = callee_.receive(kWait);
  ASSERT_FALSE(forwarded.empty()) << log();
  EXPECT_EQ(first_line(forwarded),
            "INVITE sip:callee@127.0.0.1:" + std::to_string(callee_.port()) + " SIP/2.0");
  EXPECT_EQ(headers(forwarded, "Max-Forwards"), (std::vector<std::string>{"69"}));
  EXPECT_TRUE(headers(forwarded, "Route").empty()) << forwarded;
  const auto vias = headers(forwarded, "Via");
  ASSERT_EQ(vias.size(), 2u) << forwarded;
  EXPECT_EQ(branch_of(vias[0]).rfind("z9hG4bK-hs", 0), 0u) << vias[0];
  EXPECT_EQ(vias[0].rfind("SIP/2.0/UDP 127.0.0.1:", 0), 0u) << vias[0];
  EXPECT_EQ(branch_of(vias[1]), "z9hG4bKinv1") << vias[1];
  EXPECT_NE(vias[1].find(";rport=" + std::to_string(caller_.port())), std::string::npos) << vias[1];

  answer(callee_, forwarded, 180, "Ringing");
  answer(callee_, forwarded, 200, "OK");
  const std::string ringing = caller_.receive(kWait);
  const std::string ok = caller_.receive(kWait);
  EXPECT_EQ(first_line(ringing), "SIP/2.0 180 Ringing") << log();
  EXPECT_EQ(first_line(ok), "SIP/2.0 200 OK") << log();
  for (const auto* response : {&ringing, &ok}) {
    const auto back = headers(*response, "Via");
    ASSERT_EQ(back.size(), 1u) << *response;
    EXPECT_EQ(branch_of(back[0]), "z9hG4bKinv1");
    EXPECT_EQ(headers(*response, "To"), (std::vector<std::string>{"<sip:U1@C1.D1.H1>;tag=callee"}));
  }

  // The 2xx's ACK is a request of its own; it goes the same way.
  caller_.send(server_->port(), invite("UDP", caller_.port(), "z9hG4bKack1", "ACK"));
  const std::string ack = callee_.receive(kWait);
  EXPECT_EQ(first_line(ack), "ACK sip:callee@127.0.0.1:" + std::to_string(callee_.port()) + " SIP/2.0")
      << log();
  EXPECT_TRUE(caller_.receive(std::chrono::milliseconds(300)).empty());  // an ACK is never answered
}

TEST_F(ForwardTest, RetransmissionAndCancelCarryTheFirstBranch) {
  const std::string request = invite("UDP", caller_.port(), "z9hG4bKinv2");
  caller_.send(server_->port(), request);
  const std::string first = callee_.receive(kWait);
  caller_.send(server_->port(), request);
  const std::string again = callee_.receive(kWait);
  caller_.send(server_->port(), invite("UDP", caller_.port(), "z9hG4bKinv2", "CANCEL"));
  const std::string cancel = callee_.receive(kWait);
  ASSERT_FALSE(first.empty() || again.empty() || cancel.empty()) << log();
  const std::string branch = branch_of(headers(first, "Via").at(0));
  EXPECT_EQ(branch_of(headers(again, "Via").at(0)), branch);
  EXPECT_EQ(first_line(cancel).rfind("CANCEL sip:callee@", 0), 0u) << cancel;
  EXPECT_EQ(branch_of(headers(cancel, "Via").at(0)), branch);
  // Another transaction gets another branch.
  caller_.send(server_->port(), invite("UDP", caller_.port(), "z9hG4bKinv3"));
  const std::string other = callee_.receive(kWait);
  ASSERT_FALSE(other.empty());
  EXPECT_NE(branch_of(headers(other, "Via").at(0)), branch);
}

TEST_F(ForwardTest, MaxForwardsZeroIsAnswered483AndNotForwarded) {
  std::string request = invite("UDP", caller_.port(), "z9hG4bKmf0");
  request.replace(request.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  caller_.send(server_->port(), request);
  EXPECT_EQ(status_of(caller_.receive(kWait)), 483) << log();
  EXPECT_TRUE(callee_.receive(std::chrono::milliseconds(300)).empty());
}

// Two Routes naming the server: it forwards to itself, then finds its own
// branch in the Via list and answers 482, which comes back through it.
TEST_F(ForwardTest, ALoopIsAnswered482) {
  const std::string us = "<sip:127.0.0.1:" + std::to_string(server_->port()) + ";lr>";
  caller_.send(server_->port(),
               invite("UDP", caller_.port(), "z9hG4bKloop", "INVITE", "Route: " + us + "\n"));
  const std::string answer = caller_.receive(kWait);
  EXPECT_EQ(status_of(answer), 482) << answer << log();
  EXPECT_EQ(headers(answer, "Via").size(), 1u) << answer;
  EXPECT_TRUE(callee_.receive(std::chrono::milliseconds(300)).empty());
}

TEST_F(ForwardTest, ARequestNotRoutedHereIsTheHandlersToAnswer) {
  std::string request = invite("UDP", caller_.port(), "z9hG4bKnoroute");
  request.erase(request.find("Route: "),
                request.find("\r\n", request.find("Route: ")) + 2 - request.find("Route: "));
  caller_.send(server_->port(), request);
  EXPECT_EQ(status_of(caller_.receive(kWait)), 404) << log();
}

// In over TCP, on over UDP, and the answer back on the caller's connection.
TEST_F(ForwardTest, FromTcpToUdpAndBack) {
  TcpClient caller(server_->port());
  ASSERT_TRUE(caller.connected());
  ASSERT_TRUE(caller.send(invite("TCP", 5999, "z9hG4bKtcp1")));
  const std::string forwarded = callee_.receive(kWait);
  ASSERT_FALSE(forwarded.empty()) << log();
  const auto vias = headers(forwarded, "Via");
  ASSERT_EQ(vias.size(), 2u) << forwarded;
  EXPECT_EQ(vias[0].rfind("SIP/2.0/UDP ", 0), 0u) << vias[0];
  EXPECT_NE(vias[1].find(";rport=" + std::to_string(caller.local_port())), std::string::npos) << vias[1];
  answer(callee_, forwarded, 200, "OK");
  const std::string ok = caller.response();
  EXPECT_EQ(first_line(ok), "SIP/2.0 200 OK") << log();
  EXPECT_EQ(headers(ok, "Via").size(), 1u) << ok;
}

}  // namespace
