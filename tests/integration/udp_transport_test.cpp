// The UDP transport the core owns (core/src/udp_transport.cpp): batches in and
// out, where responses go (RFC 3261 18.2.2, RFC 3581), and what it drops.
// Raw datagrams from real sockets on loopback against a running homesipd.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string options(const std::string& call_id, uint16_t via_port, bool rport, const std::string& body = "") {
  return "OPTIONS sip:H1@C1.D1 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:" +
         std::to_string(via_port) + ";branch=z9hG4bK-" + call_id + (rport ? ";rport" : "") +
         "\r\n"
         "From: <sip:probe@C1.D1>;tag=t1\r\n"
         "To: <sip:H1@C1.D1>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 OPTIONS\r\n"
         "Max-Forwards: 70\r\n"
         "Content-Type: text/plain\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string call_id_of(const std::string& response) {
  const auto at = response.find("\r\nCall-ID: ");
  if (at == std::string::npos) return "";
  const auto start = at + 11;
  return response.substr(start, response.find("\r\n", start) - start);
}

class UdpTransport : public ::testing::Test {
 protected:
  void SetUp() override { server_.start(); }
  TempDir dir_;
  HomesipServer server_{dir_, ServerOptions{}};
};

TEST_F(UdpTransport, AnswersABurstLargerThanOneBatch) {
  // 300 requests in one go: more than the transport reads (32) or sends at
  // once, so the batches in both directions have to chain.
  UdpSocket client;
  constexpr int kBurst = 300;
  for (int i = 0; i < kBurst; ++i)
    client.send(server_.port(), options("burst-" + std::to_string(i), client.port(), true));
  std::set<std::string> answered;
  for (int i = 0; i < kBurst; ++i) {
    const std::string response = client.receive(std::chrono::seconds(3));
    if (response.empty()) break;
    EXPECT_EQ(status_of(response), 200) << response;
    answered.insert(call_id_of(response));
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kBurst));
}

TEST_F(UdpTransport, WithoutRportTheResponseGoesToTheViaPort) {
  UdpSocket sender, via_port;
  sender.send(server_.port(), options("no-rport", via_port.port(), false));
  const std::string response = via_port.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(response.find(";rport"), std::string::npos) << response;
  EXPECT_TRUE(sender.receive(std::chrono::milliseconds(200)).empty());
}

TEST_F(UdpTransport, WithRportTheResponseGoesToTheSourcePort) {
  UdpSocket sender, via_port;
  sender.send(server_.port(), options("rport", via_port.port(), true));
  const std::string response = sender.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_NE(response.find(";rport=" + std::to_string(sender.port())), std::string::npos) << response;
  EXPECT_TRUE(via_port.receive(std::chrono::milliseconds(200)).empty());
}

TEST_F(UdpTransport, KeepalivesAndResponsesGetNoAnswer) {
  UdpSocket client;
  client.send(server_.port(), "\r\n\r\n");
  client.send(server_.port(), "\r\n");
  client.send(server_.port(),
              "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(client.port()) +
                  ";branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: stray\r\n"
                  "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(client.receive(std::chrono::milliseconds(500)).empty());
  // And it still serves.
  client.send(server_.port(), options("after", client.port(), true));
  const std::string response = client.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(call_id_of(response), "after");
}

TEST_F(UdpTransport, AForeignViaIsAnsweredWhereTheDatagramCameFrom) {
  // RFC 3261 18.2.2: the top Via says TCP and names another port; the
  // datagram's answer goes back to its source, not to the Via.
  UdpSocket client;
  std::string tcp_via = options("tcp-via", 9, false);
  tcp_via.replace(tcp_via.find("SIP/2.0/UDP"), 11, "SIP/2.0/TCP");
  client.send(server_.port(), tcp_via);
  const std::string response = client.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(call_id_of(response), "tcp-via");
}

TEST_F(UdpTransport, TakesAMaximalDatagram) {
  // 60 KB: far over any MTU, still one UDP datagram.
  UdpSocket client;
  client.send(server_.port(), options("large", client.port(), true, std::string(60000, 'x')));
  const std::string response = client.receive(std::chrono::seconds(3));
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(call_id_of(response), "large");
}

TEST_F(UdpTransport, BadVersionGets505AndTruncatedBodyGets400) {
  UdpSocket client;
  std::string version = options("version", client.port(), true);
  version.replace(version.find("SIP/2.0\r\n"), 9, "SIP/7.0\r\n");
  client.send(server_.port(), version);
  EXPECT_EQ(status_of(client.receive(std::chrono::seconds(3))), 505);
  std::string truncated = options("truncated", client.port(), true, "abc");
  truncated.resize(truncated.size() - 2);  // Content-Length says 3, 1 byte came
  client.send(server_.port(), truncated);
  EXPECT_EQ(status_of(client.receive(std::chrono::seconds(3))), 400);
}

}  // namespace

// server.udp_coalesce_us: requests a millisecond apart, against a 10 ms
// window, are read and answered in a few batches (each batch's answers leave
// in one sendmmsg, microseconds apart), not one by one as they come (about a
// millisecond apart, 40 batches); none is lost, and homesipctl stats counts
// the loop's pauses.
TEST(UdpCoalescing, RequestsArrivingFasterThanTheWindowAreAnsweredInBatches) {
  TempDir dir;
  const std::string admin = (dir.path() / "h1.sock").string();
  ServerOptions with_admin;
  with_admin.extra_server_yaml = "  admin_socket: " + admin + "\n";
  HomesipServer server(dir, with_admin);
  server.set_extra_arguments({"--set", "server.udp_coalesce_us=10000"});
  server.start();
  UdpSocket client;
  constexpr int kRequests = 40;
  std::vector<int64_t> arrivals;
  std::set<std::string> answered;
  std::thread receiver([&] {
    for (int i = 0; i < kRequests; ++i) {
      const auto response = client.receive_timed(std::chrono::seconds(3));
      if (!response) return;
      EXPECT_GT(response->arrived_ns, 0) << "no kernel timestamp";
      arrivals.push_back(response->arrived_ns);  // the kernel's time: not the thread's scheduling
      if (status_of(response->text) == 200) answered.insert(call_id_of(response->text));
    }
  });
  for (int i = 0; i < kRequests; ++i) {
    client.send(server.port(), options("paced-" + std::to_string(i), client.port(), true));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  receiver.join();
  EXPECT_EQ(answered.size(), static_cast<size_t>(kRequests));
  ASSERT_EQ(arrivals.size(), static_cast<size_t>(kRequests));
  // A new batch: an answer more than 300 us after the one before. A 10 ms
  // window over the 40+ ms of sending makes about 5.
  int batches = 1;
  for (size_t i = 1; i < arrivals.size(); ++i)
    if (arrivals[i] - arrivals[i - 1] > 300'000) ++batches;
  EXPECT_LE(batches, 12);
  std::string out;
  ASSERT_EQ(
      run({HOMESIP_TEST_HOMESIPCTL, "--socket", admin, "--json", "stats"}, &out, std::chrono::seconds(10)), 0)
      << out;
  const auto loops = nlohmann::json::parse(out)["loops"];
  ASSERT_EQ(loops.size(), 1u) << out;
  EXPECT_GE(loops[0]["pauses"].get<int>(), 2) << out;
}
