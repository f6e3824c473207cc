// NtaSipClient, the SDK's SipClient, against a peer that is a real socket in
// this test (UDP and TCP on 127.0.0.1): what reaches the wire, what comes
// back to the callback, and nta's own answers (408 after timer F, 503 when
// nothing can carry the request). The agent is the test's own, with a short
// T1 so timer F fires in about three seconds.
#include "sip_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sresolv.h>
#include <sofia-sip/su.h>
#include <sofia-sip/tport_tag.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loop_thread.hpp"
#include "test_support.hpp"

namespace homesip::core {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using homesip::test::TempDir;
using homesip::test::UdpSocket;
using homesip::test::write_file;

// The value of header `name` in `message` ("" when absent); the first line only.
std::string header_of(const std::string& message, const std::string& name) {
  const std::string key = "\r\n" + name + ": ";
  const auto at = message.find(key);
  if (at == std::string::npos) return {};
  const auto end = message.find("\r\n", at + key.size());
  return message.substr(at + key.size(), end - at - key.size());
}

std::string body_of(const std::string& message) {
  const auto at = message.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : message.substr(at + 4);
}

// A response to `request` with its Via, From, To (tagged), Call-ID and CSeq.
std::string response_to(const std::string& request, const std::string& status_line,
                        const std::string& extra = "") {
  return "SIP/2.0 " + status_line + "\r\nVia: " + header_of(request, "Via") +
         "\r\nFrom: " + header_of(request, "From") + "\r\nTo: " + header_of(request, "To") +
         ";tag=peer\r\nCall-ID: " + header_of(request, "Call-ID") +
         "\r\nCSeq: " + header_of(request, "CSeq") + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

// Where nta listens for the answer: the port in the request's top Via.
uint16_t via_port(const std::string& request) {
  const std::string via = header_of(request, "Via");
  const auto colon = via.find(':', via.find(' '));
  return colon == std::string::npos ? 0 : static_cast<uint16_t>(std::atoi(via.c_str() + colon + 1));
}

// A TCP peer: accepts one connection and reads whole messages framed by Content-Length.
class TcpPeer {
 public:
  TcpPeer() : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    ::listen(listener_, 4);
    socklen_t length = sizeof local;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&local), &length);
    port_ = ntohs(local.sin_port);
  }
  ~TcpPeer() {
    if (connection_ >= 0) ::close(connection_);
    ::close(listener_);
  }
  TcpPeer(const TcpPeer&) = delete;
  TcpPeer& operator=(const TcpPeer&) = delete;
  uint16_t port() const { return port_; }

  // The next whole message (head and Content-Length octets of body), or "" after `timeout`.
  std::string receive(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    if (connection_ < 0) {
      if (!wait_readable(listener_, deadline)) return {};
      connection_ = ::accept(listener_, nullptr, nullptr);
    }
    for (;;) {
      const auto head_end = buffer_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string length_text = header_of(buffer_.substr(0, head_end + 2), "Content-Length");
        if (length_text.empty()) return {};  // unframed: what this test is about
        const size_t total = head_end + 4 + std::stoul(length_text);
        if (buffer_.size() >= total) {
          std::string message = buffer_.substr(0, total);
          buffer_.erase(0, total);
          return message;
        }
      }
      if (!wait_readable(connection_, deadline)) return {};
      char chunk[65536];
      const ssize_t n = ::recv(connection_, chunk, sizeof chunk, 0);
      if (n <= 0) return {};
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  void send(const std::string& bytes) {
    (void)!::send(connection_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

 private:
  static bool wait_readable(int fd, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  }
  int listener_;
  int connection_ = -1;
  uint16_t port_ = 0;
  std::string buffer_;
};

// A DNS server for one name: A queries for it get 127.0.0.1, anything else
// NXDOMAIN. Answers on a thread of its own until destroyed.
class DnsStandIn {
 public:
  explicit DnsStandIn(std::string name) : name_(std::move(name)), socket_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(socket_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    socklen_t length = sizeof local;
    ::getsockname(socket_, reinterpret_cast<sockaddr*>(&local), &length);
    port_ = ntohs(local.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~DnsStandIn() {
    stop_ = true;
    thread_.join();
    ::close(socket_);
  }
  DnsStandIn(const DnsStandIn&) = delete;
  DnsStandIn& operator=(const DnsStandIn&) = delete;
  uint16_t port() const { return port_; }
  int queries() const { return queries_; }
  int a_queries() const { return a_queries_; }

 private:
  void serve() {
    // Bounded: at most 10 minutes of 100 ms polls, stopped by the destructor long before.
    for (int round = 0; round < 6000 && !stop_; ++round) {
      pollfd p{socket_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      unsigned char query[512];
      sockaddr_in from{};
      socklen_t from_length = sizeof from;
      const ssize_t n =
          ::recvfrom(socket_, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 12) continue;
      ++queries_;
      const std::string answer = answer_to(query, static_cast<size_t>(n));
      if (!answer.empty())
        ::sendto(socket_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }

  std::string answer_to(const unsigned char* query, size_t length) {
    // The question: labels up to the root, then type and class.
    std::string name;
    size_t at = 12;
    while (at < length && query[at] != 0) {
      const size_t label = query[at];
      if (at + 1 + label > length) return {};
      if (!name.empty()) name += '.';
      name.append(reinterpret_cast<const char*>(query + at + 1), label);
      at += 1 + label;
    }
    if (at + 5 > length) return {};
    const size_t question_end = at + 5;
    const int type = query[at + 1] << 8 | query[at + 2];
    const bool found = name == name_ && type == 1;
    if (found) ++a_queries_;
    std::string reply(reinterpret_cast<const char*>(query), question_end);
    reply[2] = static_cast<char>(0x81);                         // a response, recursion desired
    reply[3] = static_cast<char>(name == name_ ? 0x80 : 0x83);  // recursion available; NXDOMAIN
    reply[4] = 0, reply[5] = 1;                                 // one question
    reply[6] = 0, reply[7] = found ? 1 : 0;                     // answers
    reply[8] = reply[9] = reply[10] = reply[11] = 0;            // no authority, no additional
    if (found) {
      const unsigned char record[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
      reply.append(reinterpret_cast<const char*>(record), sizeof record);
    }
    return reply;
  }

  std::string name_;
  int socket_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::atomic<int> a_queries_{0};
  std::thread thread_;
};

// What the callback saw, copied out of the views while they were valid.
struct Answer {
  int calls = 0;
  int status = 0;
  std::string reason;
  bool local = false;
  std::string to_tag;
  std::string call_id;
  std::optional<std::string> x_answer;
  std::vector<ContactView> contacts;
  Clock::time_point at;
};

class SipClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { su_init(); }
  static void TearDownTestSuite() { su_deinit(); }

  void SetUp() override {
    loop_ = std::make_unique<SofiaEventLoop>();
    start_agent(nullptr);
  }

  // As the server's agent: stateless for requests, client-only TCP. A
  // resolv.conf of the test's own points nta's resolver at a test server.
  void start_agent(const char* resolv_conf) {
    client_.reset();
    if (agent_) nta_agent_destroy(agent_);
    agent_ = nta_agent_create(loop_->root(), URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"),
                              reinterpret_cast<nta_message_f*>(&SipClientTest::discard), nullptr,
                              NTATAG_STATELESS(1), NTATAG_UA(0), NTATAG_SIP_T1(50), NTATAG_SIP_T1X64(kTimerF),
                              TAG_IF(resolv_conf, SRESTAG_RESOLV_CONF(resolv_conf)), TAG_END());
    ASSERT_NE(agent_, nullptr);
    ASSERT_EQ(nta_agent_add_tport(agent_, URL_STRING_MAKE("sip:127.0.0.1:0;transport=tcp"), TPTAG_SERVER(0),
                                  TAG_END()),
              0);
    client_ = std::make_unique<NtaSipClient>(agent_, *loop_, "sip:H1@C1.D1",
                                             std::make_shared<spdlog::logger>("sip-client-test"));
  }

  void TearDown() override {
    client_.reset();
    if (agent_) nta_agent_destroy(agent_);
    loop_.reset();
  }

  static int discard(void*, nta_agent_t* agent, msg_t* msg, sip_t*) {
    nta_msg_discard(agent, msg);
    return 0;
  }

  std::unique_ptr<ClientTransaction> send(const OutgoingRequest& request, Answer& answer) {
    return client_->send(request, [&answer](const SipResponse& response) {
      ++answer.calls;
      answer.status = response.status();
      answer.reason = response.reason();
      answer.local = response.local();
      answer.to_tag = response.to_tag();
      answer.call_id = response.call_id();
      if (auto value = response.header("X-Answer")) answer.x_answer = std::string(*value);
      answer.contacts = response.contacts();
      answer.at = Clock::now();
    });
  }

  // Turns the loop until `answer` has its callback or `timeout` passes.
  bool wait_for(const Answer& answer, std::chrono::milliseconds timeout) {
    return loop_->run_until([&] { return answer.calls > 0; }, timeout);
  }

  static constexpr unsigned kTimerF = 3200;  // 64 * T1 of 50 ms
  std::unique_ptr<SofiaEventLoop> loop_;
  nta_agent_t* agent_ = nullptr;
  std::unique_ptr<NtaSipClient> client_;
};

TEST_F(SipClientTest, MessageOverUdpArrivesAsBuiltAndTheFinalResponseComesOnce) {
  UdpSocket peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (request.empty()) return;
    peer.send(via_port(request), response_to(request, "100 Trying"));
    peer.send(via_port(request), response_to(request, "200 Fine Thanks", "X-Answer: yes\r\n"));
  });
  OutgoingRequest message("MESSAGE", "sip:light.kitchen@127.0.0.1:" + std::to_string(peer.port()));
  message.content_type = "application/octet-stream";
  message.body = std::string("on\0\r\n\xff", 6);  // any octets, a NUL and a CRLF among them
  message.header("Subject", "lamp");
  Answer answer;
  auto transaction = send(message, answer);
  const bool answered = wait_for(answer, 5s);
  answering.join();
  ASSERT_TRUE(answered) << request;

  EXPECT_EQ(request.substr(0, request.find("\r\n")),
            "MESSAGE sip:light.kitchen@127.0.0.1:" + std::to_string(peer.port()) + " SIP/2.0");
  const std::string from = header_of(request, "From");
  EXPECT_EQ(from.rfind("<sip:H1@C1.D1>;tag=", 0), 0u) << from;
  EXPECT_GT(from.size(), std::string("<sip:H1@C1.D1>;tag=").size()) << from;
  EXPECT_EQ(header_of(request, "To"), "<sip:light.kitchen@127.0.0.1:" + std::to_string(peer.port()) + ">");
  EXPECT_EQ(header_of(request, "CSeq"), "1 MESSAGE");
  EXPECT_EQ(header_of(request, "Max-Forwards"), "70");
  EXPECT_EQ(header_of(request, "Subject"), "lamp");
  EXPECT_EQ(header_of(request, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(header_of(request, "Content-Length"), "6");
  EXPECT_EQ(body_of(request), message.body);
  EXPECT_EQ(header_of(request, "Call-ID"), std::string(transaction->call_id()));
  EXPECT_EQ(transaction->cseq(), 1u);

  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.reason, "Fine Thanks");
  EXPECT_FALSE(answer.local);
  EXPECT_EQ(answer.to_tag, "peer");
  EXPECT_EQ(answer.call_id, transaction->call_id());
  EXPECT_EQ(answer.x_answer, "yes");
  // Once: the 100 was not delivered, and nothing comes after the 200.
  loop_->run_until([] { return false; }, 300ms);
  EXPECT_EQ(answer.calls, 1);
  EXPECT_EQ(client_->outstanding(), 0u);
}

TEST_F(SipClientTest, GivenCallIdCseqFromToAndNextHopAreSentAsGiven) {
  UdpSocket peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (!request.empty()) peer.send(via_port(request), response_to(request, "200 OK"));
  });
  // The Request-URI names no reachable host: next_hop says where to send it.
  OutgoingRequest registration("REGISTER", "sip:C1.D1");
  registration.next_hop = "sip:127.0.0.1:" + std::to_string(peer.port());
  registration.from = "<sip:H1@C1.D1>;tag=mine";
  registration.to = "<sip:H1@C1.D1>";
  registration.call_id = "fixed-call-id@h1";
  registration.cseq = 42;
  registration.header("Contact", "<sip:H1@127.0.0.1:5130>").header("Expires", "120");
  Answer answer;
  auto transaction = send(registration, answer);
  const bool answered = wait_for(answer, 5s);
  answering.join();
  ASSERT_TRUE(answered) << request;
  EXPECT_EQ(request.substr(0, request.find("\r\n")), "REGISTER sip:C1.D1 SIP/2.0");
  EXPECT_EQ(header_of(request, "From"), "<sip:H1@C1.D1>;tag=mine");
  EXPECT_EQ(header_of(request, "To"), "<sip:H1@C1.D1>");
  EXPECT_EQ(header_of(request, "Call-ID"), "fixed-call-id@h1");
  EXPECT_EQ(header_of(request, "CSeq"), "42 REGISTER");
  EXPECT_EQ(header_of(request, "Contact"), "<sip:H1@127.0.0.1:5130>");
  EXPECT_EQ(header_of(request, "Expires"), "120");
  EXPECT_EQ(transaction->call_id(), "fixed-call-id@h1");
  EXPECT_EQ(transaction->cseq(), 42u);
  EXPECT_EQ(answer.status, 200);
}

TEST_F(SipClientTest, SilentPeerOverUdpSeesRetransmissionsAndTheCallbackGetsALocal408) {
  UdpSocket peer;
  std::vector<std::string> received;
  std::thread listening([&] {
    // Timer F is 3.2 s: listen a little longer, one bounded wait per datagram.
    const auto deadline = Clock::now() + 4500ms;
    for (int i = 0; i < 50 && Clock::now() < deadline; ++i) {
      std::string datagram = peer.receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(deadline - Clock::now(), Clock::duration(1ms))));
      if (!datagram.empty()) received.push_back(std::move(datagram));
    }
  });
  const auto sent = Clock::now();
  Answer answer;
  auto transaction = send(OutgoingRequest("OPTIONS", "sip:127.0.0.1:" + std::to_string(peer.port())), answer);
  const bool answered = wait_for(answer, 8s);
  listening.join();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answer.status, 408);
  EXPECT_TRUE(answer.local);
  EXPECT_EQ(answer.call_id, transaction->call_id());
  // Timer F, not earlier, not much later.
  EXPECT_GE(answer.at - sent, 3000ms);
  EXPECT_LE(answer.at - sent, 5000ms);
  // T1 = 50 ms doubling: 0, 50, 150, 350, 750, 1550 ms and on, all one request.
  ASSERT_GE(received.size(), 6u);
  EXPECT_LE(received.size(), 12u);
  for (const auto& copy : received) EXPECT_EQ(copy, received.front());
  EXPECT_EQ(client_->outstanding(), 0u);
}

TEST_F(SipClientTest, TheContactsOfA302AreReadable) {
  UdpSocket peer;
  std::thread answering([&] {
    const std::string request = peer.receive(5s);
    if (!request.empty())
      peer.send(
          via_port(request),
          response_to(request, "302 Moved Temporarily",
                      "Contact: <sip:H1@127.0.0.1:5130>;expires=60, <sip:H1@192.0.2.7:5060;transport=tcp>"
                      ";q=0.5\r\n"));
  });
  Answer answer;
  auto transaction = send(
      OutgoingRequest("REGISTER", "sip:127.0.0.1:" + std::to_string(peer.port())).header("Expires", "60"),
      answer);
  const bool answered = wait_for(answer, 5s);
  answering.join();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answer.status, 302);
  ASSERT_EQ(answer.contacts.size(), 2u);
  EXPECT_EQ(answer.contacts[0].uri, "sip:H1@127.0.0.1:5130");
  EXPECT_EQ(answer.contacts[0].expires, 60u);
  EXPECT_EQ(answer.contacts[1].uri, "sip:H1@192.0.2.7:5060;transport=tcp");
  EXPECT_EQ(answer.contacts[1].q_millis, 500);
}

TEST_F(SipClientTest, ADestroyedTransactionNeverCallsBack) {
  UdpSocket peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (!request.empty()) peer.send(via_port(request), response_to(request, "200 OK"));
  });
  bool called = false;
  auto transaction =
      client_->send(OutgoingRequest("MESSAGE", "sip:u@127.0.0.1:" + std::to_string(peer.port())),
                    [&](const SipResponse&) { called = true; });
  EXPECT_EQ(client_->outstanding(), 1u);
  // nta sent it at once (an IP literal needs no lookup); dropped before any answer.
  transaction.reset();
  EXPECT_EQ(client_->outstanding(), 0u);
  answering.join();
  ASSERT_FALSE(request.empty());  // the peer got it and answered...
  loop_->run_until([] { return false; }, 500ms);
  EXPECT_FALSE(called);  // ...and nobody was called
}

TEST_F(SipClientTest, DestroyingTheClientReleasesWhatIsInFlightWithoutCallbacks) {
  UdpSocket peer;  // never answers
  bool called = false;
  auto first = client_->send(OutgoingRequest("OPTIONS", "sip:127.0.0.1:" + std::to_string(peer.port())),
                             [&](const SipResponse&) { called = true; });
  auto second = client_->send(OutgoingRequest("NOTIFY", "sip:u@127.0.0.1:" + std::to_string(peer.port())),
                              [&](const SipResponse&) { called = true; });
  loop_->run_until([] { return false; }, 50ms);
  ASSERT_EQ(client_->outstanding(), 2u);
  client_.reset();
  first.reset();  // handles that outlive their client are harmless
  // Past timer F: nta ends both transactions, and nobody hears of it.
  loop_->run_until([] { return false; }, std::chrono::milliseconds(kTimerF + 500));
  EXPECT_FALSE(called);
  EXPECT_EQ(second->cseq(), 1u);
}

TEST_F(SipClientTest, OverTcpTheRequestArrivesFramedByContentLength) {
  TcpPeer peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (!request.empty()) peer.send(response_to(request, "202 Accepted", "X-Answer: over tcp\r\n"));
  });
  OutgoingRequest notify("NOTIFY", "sip:u@127.0.0.1:" + std::to_string(peer.port()) + ";transport=tcp");
  notify.header("Event", "presence").header("Subscription-State", "active;expires=60");
  notify.content_type = "text/plain";
  notify.body = "line one\r\n\r\nline three";  // a blank line inside: only Content-Length frames it
  Answer answer;
  auto transaction = send(notify, answer);
  const bool answered = wait_for(answer, 5s);
  answering.join();
  ASSERT_TRUE(answered) << request;
  // A client-only TCP transport names no listening address in its Via: the
  // answer comes back on this connection.
  EXPECT_EQ(header_of(request, "Via").rfind("SIP/2.0/TCP ", 0), 0u) << request;
  EXPECT_EQ(header_of(request, "Content-Length"), std::to_string(notify.body.size()));
  EXPECT_EQ(body_of(request), notify.body);
  EXPECT_EQ(header_of(request, "Event"), "presence");
  EXPECT_EQ(answer.status, 202);
  EXPECT_FALSE(answer.local);
  EXPECT_EQ(answer.x_answer, "over tcp");
}

TEST_F(SipClientTest, AHostnameIsResolvedThroughDnsAndTheUrisPortUsed) {
  TempDir dir;
  DnsStandIn dns("lamp.test");
  write_file(dir / "resolv.conf", "nameserver 127.0.0.1\nport " + std::to_string(dns.port()) + "\n");
  const std::string resolv_conf = (dir / "resolv.conf").string();
  start_agent(resolv_conf.c_str());
  UdpSocket peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (!request.empty()) peer.send(via_port(request), response_to(request, "200 OK"));
  });
  const std::string uri = "sip:lamp.test:" + std::to_string(peer.port()) + ";transport=udp";
  Answer answer;
  auto transaction = send(OutgoingRequest("OPTIONS", uri), answer);
  const bool answered = wait_for(answer, 6s);
  answering.join();
  ASSERT_TRUE(answered);
  EXPECT_EQ(request.substr(0, request.find("\r\n")), "OPTIONS " + uri + " SIP/2.0");
  EXPECT_EQ(answer.status, 200);
  EXPECT_FALSE(answer.local);
  EXPECT_GE(dns.a_queries(), 1);  // the name was looked up, not guessed
}

TEST_F(SipClientTest, AnUnknownHostnameGivesALocal503) {
  TempDir dir;
  DnsStandIn dns("lamp.test");
  write_file(dir / "resolv.conf", "nameserver 127.0.0.1\nport " + std::to_string(dns.port()) + "\n");
  const std::string resolv_conf = (dir / "resolv.conf").string();
  start_agent(resolv_conf.c_str());
  Answer answer;
  auto transaction = send(OutgoingRequest("OPTIONS", "sip:nowhere.test:5060;transport=udp"), answer);
  ASSERT_TRUE(wait_for(answer, 6s));
  EXPECT_EQ(answer.status, 503);
  EXPECT_TRUE(answer.local);
  EXPECT_GE(dns.queries(), 1);
}

TEST_F(SipClientTest, NoTransportForTheRequestGivesALocal503Later) {
  // This agent has no TLS: nothing can carry a sips: request.
  Answer answer;
  auto transaction = send(OutgoingRequest("OPTIONS", "sips:127.0.0.1:5061"), answer);
  EXPECT_EQ(answer.calls, 0);  // never inside send()
  ASSERT_TRUE(wait_for(answer, 5s));
  EXPECT_EQ(answer.status, 503);
  EXPECT_TRUE(answer.local);
  EXPECT_EQ(client_->outstanding(), 0u);
}

TEST_F(SipClientTest, WhatCannotBeBuiltThrowsAndSendsNothing) {
  const auto attempt = [&](OutgoingRequest request) {
    client_->send(request, [](const SipResponse&) { ADD_FAILURE() << "called back"; });
  };
  EXPECT_THROW(attempt(OutgoingRequest("MESSAGE", "tel:+4312345")), std::invalid_argument);
  EXPECT_THROW(attempt(OutgoingRequest("MESSAGE", "sip:")), std::invalid_argument);
  EXPECT_THROW(attempt(OutgoingRequest("MESSAGE", "")), std::invalid_argument);
  EXPECT_THROW(attempt(OutgoingRequest("", "sip:u@127.0.0.1")), std::invalid_argument);
  EXPECT_THROW(attempt(OutgoingRequest("MES SAGE", "sip:u@127.0.0.1")), std::invalid_argument);
  EXPECT_THROW(attempt(OutgoingRequest("MESSAGE", "sip:u@127.0.0.1").header("Subject", "a\r\nVia: forged")),
               std::invalid_argument);
  OutgoingRequest bad_hop("MESSAGE", "sip:u@C1.D1");
  bad_hop.next_hop = "http://127.0.0.1";
  EXPECT_THROW(attempt(bad_hop), std::invalid_argument);
  EXPECT_EQ(client_->outstanding(), 0u);
  loop_->run_until([] { return false; }, 100ms);
}

// server.loops: a handler on another loop sends; nta turns on the main loop;
// the answer comes back on the sender's loop, never on the main one.
class SipClientFromAnotherLoop : public SipClientTest {
 protected:
  // Sends `request` from the worker's thread, the callback noting where it ran.
  void send_from_worker(const OutgoingRequest& request) {
    worker_.call([&] {
      transaction_ = client_->send(request, [this](const SipResponse& response) {
        status_ = response.status();
        on_worker_ = worker_.loop().on_loop_thread();
        ++calls_;
      });
    });
  }
  bool wait_for_calls(int calls, std::chrono::milliseconds timeout) {
    return loop_->run_until([&] { return calls_.load() >= calls; }, timeout);
  }
  void TearDown() override {
    worker_.call([&] { transaction_.reset(); });  // on the loop that owns it
    worker_.stop();
    SipClientTest::TearDown();
  }

  LoopThread worker_;
  std::unique_ptr<ClientTransaction> transaction_;  // the worker's
  std::atomic<int> calls_{0};
  std::atomic<int> status_{0};
  std::atomic<bool> on_worker_{false};
};

TEST_F(SipClientFromAnotherLoop, TheAnswerComesBackOnTheSendersLoop) {
  worker_.run();
  UdpSocket peer;
  std::string request;
  std::thread answering([&] {
    request = peer.receive(5s);
    if (!request.empty()) peer.send(via_port(request), response_to(request, "202 Accepted"));
  });
  send_from_worker(OutgoingRequest("MESSAGE", "sip:u@127.0.0.1:" + std::to_string(peer.port())));
  const bool answered = wait_for_calls(1, 5s);
  answering.join();
  ASSERT_TRUE(answered) << request;
  EXPECT_EQ(status_.load(), 202);
  EXPECT_TRUE(on_worker_.load());
  std::string call_id;
  worker_.call([&] { call_id = std::string(transaction_->call_id()); });
  EXPECT_EQ(header_of(request, "Call-ID"), call_id);
  EXPECT_NE(header_of(request, "From").find(";tag="), std::string::npos) << request;
  loop_->run_until([] { return false; }, 300ms);
  EXPECT_EQ(calls_.load(), 1);
  EXPECT_EQ(client_->outstanding(), 0u);
}

TEST_F(SipClientFromAnotherLoop, ARequestThatCannotBeBuiltThrowsOnTheSendersThread) {
  worker_.run();
  EXPECT_THROW(send_from_worker(OutgoingRequest("BAD METHOD", "sip:u@127.0.0.1:5060")),
               std::invalid_argument);
  EXPECT_THROW(send_from_worker(OutgoingRequest("MESSAGE", "mailto:u@example.com")), std::invalid_argument);
  EXPECT_EQ(client_->outstanding(), 0u);
}

TEST_F(SipClientFromAnotherLoop, ATransactionDroppedOnItsLoopNeverCallsBack) {
  worker_.run();
  UdpSocket peer;  // never answers: nta retransmits until the transaction is dropped
  send_from_worker(OutgoingRequest("OPTIONS", "sip:127.0.0.1:" + std::to_string(peer.port())));
  loop_->run_until([&] { return client_->outstanding() == 1; }, 2s);
  ASSERT_EQ(client_->outstanding(), 1u);
  ASSERT_FALSE(peer.receive(2s).empty());
  worker_.call([&] { transaction_.reset(); });
  loop_->run_until([&] { return client_->outstanding() == 0; }, 2s);
  EXPECT_EQ(client_->outstanding(), 0u);
  loop_->run_until([] { return false; }, std::chrono::milliseconds(kTimerF + 500));
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(SipClientFromAnotherLoop, OffEveryLoopSendIsRefused) {
  std::thread plain([&] {
    EXPECT_THROW(client_->send(OutgoingRequest("OPTIONS", "sip:127.0.0.1:5060"), [](const SipResponse&) {}),
                 std::logic_error);
  });
  plain.join();
}

}  // namespace
}  // namespace homesip::core
