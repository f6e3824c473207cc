// Hostile input against a running homesipd, over UDP and TCP, as an attacker
// on the network would send it: messages built to reach sofia-sip's
// recursive and quadratic paths, connections that never finish or never
// read, floods of idle connections, a descriptor limit that accept() runs
// into. Each case asserts the specific answer (or the closed connection),
// then that the server still answers an OPTIONS and that its memory and open
// descriptors are back under a bound.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

// A TLS client over TcpClient's socket, verifying nothing (the test's own
// self-signed certificate).
class TlsClient {
 public:
  explicit TlsClient(uint16_t port) : tcp_(port), context_(SSL_CTX_new(TLS_client_method())) {
    ssl_ = SSL_new(context_);
    SSL_set_fd(ssl_, tcp_.fd());
    handshake_ok_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(context_);
  }
  bool handshake_ok() const { return handshake_ok_; }
  uint16_t local_port() const { return tcp_.local_port(); }
  bool send(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) > 0;
  }
  std::string response() {
    std::string in;
    char chunk[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl_, chunk, sizeof chunk);
      if (n <= 0) break;
      in.append(chunk, static_cast<size_t>(n));
    }
    return in;
  }

 private:
  TcpClient tcp_;
  SSL_CTX* context_;
  SSL* ssl_ = nullptr;
  bool handshake_ok_ = false;
};

// agent.pem (key + self-signed certificate for 127.0.0.1) in `dir`.
void make_certificate(const std::filesystem::path& dir) {
  std::string out;
  const int rc =
      run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
           "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string()},
          &out);
  ASSERT_EQ(rc, 0) << out;
  write_file(dir / "agent.pem", read_file(dir / "key.pem") + read_file(dir / "cert.pem"));
}

std::string request(const std::string& method, const std::string& transport, uint16_t local_port,
                    const std::string& id, const std::string& extra = "", const std::string& cseq = "1") {
  return crlf(method + " sip:U1@C1.D1.H1 SIP/2.0\nVia: SIP/2.0/" + transport +
              " 127.0.0.1:" + std::to_string(local_port) + ";rport;branch=z9hG4bK" + id +
              "\nMax-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=" + id +
              "\nTo: <sip:U1@C1.D1.H1>\nCall-ID: " + id + "@hostile\nCSeq: " + cseq + " " + method + "\n") +
         extra + "Content-Length: 0\r\n\r\n";
}

std::string values(const std::string& name, const std::string& value, size_t count, bool one_line) {
  std::string out;
  if (one_line) {
    out = name + ": ";
    for (size_t i = 0; i < count; ++i) out += (i ? "," : "") + value;
    return out + "\r\n";
  }
  for (size_t i = 0; i < count; ++i) out += name + ": " + value + "\r\n";
  return out;
}

// "SIP/2.0 400 Too Many Contacts\r\n..." -> "400 Too Many Contacts".
std::string status_line(const std::string& response) {
  if (response.rfind("SIP/2.0 ", 0) != 0) return "(no response: '" + response.substr(0, 40) + "')";
  return response.substr(8, response.find("\r\n") - 8);
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

size_t open_descriptors(pid_t pid) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

// Clock ticks of CPU the process used so far.
long cpu_ticks(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime + stime;
}

std::string plugins(const TempDir& dir) {
  return "  - plugin: location-sqlite\n    path: " + (dir / "location.sqlite").string() +
         "\n  - plugin: registrar\n    domains: [C1.D1.H1]\n";
}

class HostileTest : public ::testing::Test {
 protected:
  void start(const std::string& extra_server_yaml = "", std::vector<std::string> prefix = {}) {
    server_ =
        std::make_unique<HomesipServer>(dir_, ServerOptions{"H1", "C1.D1", plugins(dir_), extra_server_yaml});
    server_->set_command_prefix(std::move(prefix));
    server_->start();
    record_baseline();
  }
  void record_baseline() {
    baseline_fds_ = open_descriptors(server_->pid());
    baseline_rss_ = rss_kib(server_->pid());
  }
  void TearDown() override {
    if (!server_) return;
    // Every case ends with a server that serves, back under its bounds.
    EXPECT_EQ(status_of(udp_exchange(server_->port(), request("OPTIONS", "UDP", 0, "after"))), 200)
        << read_file(server_->log());
    EXPECT_TRUE(wait_for_sip(server_->port(), 3s));
    EXPECT_LE(open_descriptors(server_->pid()), baseline_fds_ + 2);
    EXPECT_LE(rss_kib(server_->pid()), baseline_rss_ + 64 * 1024) << "RSS grew beyond 64 MiB";
  }
  uint16_t port() const { return server_->port(); }
  std::string tcp_exchange(const std::string& message, std::chrono::milliseconds timeout = 5s) {
    TcpClient client(port());
    EXPECT_TRUE(client.connected());
    client.send(message);
    return client.response(timeout);
  }

  TempDir dir_;
  std::unique_ptr<HomesipServer> server_;
  size_t baseline_fds_ = 0;
  long baseline_rss_ = 0;
};

TEST_F(HostileTest, HundredThousandRoutesOverTcpAre513AndClose) {
  start();
  TcpClient client(port());
  ASSERT_TRUE(client.connected());
  const std::string routes = values("Route", "<sip:a.example;lr>", 100000, true);  // ~2 MB, one field
  const std::string message = request("OPTIONS", "TCP", client.local_port(), "routes", routes);
  client.send(message);
  EXPECT_EQ(status_line(client.response()), "513 Message Too Large");
  EXPECT_TRUE(client.closed_by_peer(3s));
}

TEST_F(HostileTest, RoutesWithinTheSizeButOverTheValueLimitAre400) {
  start();
  const std::string routes = values("Route", "<sip:a;lr>", 3000, true);  // ~36 KB
  for (const bool tcp : {false, true}) {
    const std::string response = tcp ? tcp_exchange(request("OPTIONS", "TCP", 0, "vals-t", routes))
                                     : udp_exchange(port(), request("OPTIONS", "UDP", 0, "vals-u", routes));
    EXPECT_EQ(status_line(response), "400 Too Many Values In Route") << (tcp ? "tcp" : "udp");
  }
}

TEST_F(HostileTest, ManyContactLinesAre400OverUdpAnd513OverTcp) {
  start();
  // UDP: as many Contact lines as fit a datagram; answered at once, not after seconds.
  const std::string contacts = values("Contact", "<sip:x@127.0.0.1:9>", 2000, false);
  const auto started = std::chrono::steady_clock::now();
  const std::string udp = udp_exchange(port(), request("REGISTER", "UDP", 0, "contacts-u", contacts));
  EXPECT_EQ(status_line(udp), "400 Too Many Contacts");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  // TCP: the 2 MB REGISTER with 80,000 Contact lines of the report.
  TcpClient client(port());
  client.send(request("REGISTER", "TCP", client.local_port(), "contacts-t",
                      values("Contact", "<sip:x@127.0.0.1:9>", 80000, false)));
  EXPECT_EQ(status_line(client.response()), "513 Message Too Large");
  EXPECT_TRUE(client.closed_by_peer(3s));
}

TEST_F(HostileTest, TooManyHeaderFieldsAre400) {
  start();
  const std::string many = values("X-Filler", "1", 500, false);
  EXPECT_EQ(status_line(udp_exchange(port(), request("OPTIONS", "UDP", 0, "hdrs", many))),
            "400 Too Many Headers");
}

TEST_F(HostileTest, AMessageWithABadHeaderOnTcpIsAnsweredAndTheConnectionServesOn) {
  start();
  TcpClient client(port());
  // Framed correctly, but its From is no address.
  std::string bad = request("OPTIONS", "TCP", client.local_port(), "bad");
  bad.replace(bad.find("From: <sip:U1@C1.D1.H1>"), 23, "From: \"unterminated <sip:U1@C1.D1.H1>");
  client.send(bad);
  EXPECT_EQ(status_line(client.response()), "400 Bad From Header");
  client.send(request("OPTIONS", "TCP", client.local_port(), "good"));
  EXPECT_EQ(status_of(client.response()), 200);
}

TEST_F(HostileTest, AnUnreadableMessageOnTcpClosesTheConnection) {
  start();
  TcpClient client(port());
  client.send("this is no SIP at all\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(client.closed_by_peer(3s));
}

TEST_F(HostileTest, APeerThatClosesLeavesNoConnectionBehind) {
  start();
  for (int i = 0; i < 50; ++i) {
    TcpClient client(port());
    client.send("garbage\r\n\r\n");
    client.shut_down_writing();
  }
  std::this_thread::sleep_for(500ms);
  // No CLOSE-WAIT descriptors pinned (TearDown checks the count too).
  EXPECT_LE(open_descriptors(server_->pid()), baseline_fds_);
}

TEST_F(HostileTest, ARequestOnTcpWhoseViaSaysUdpIsAnsweredOnTheConnection) {
  start();
  // RFC 3261 18.2.2: the answer goes back on the connection it came on (nta dropped these).
  TcpClient client(port());
  client.send(request("OPTIONS", "UDP", client.local_port(), "via-udp"));
  EXPECT_EQ(status_line(client.response()), "200 OK");
}

TEST_F(HostileTest, AnOutOfDialogByeIs481AndAnyRequireIs420) {
  start();
  EXPECT_EQ(status_line(udp_exchange(port(), request("BYE", "UDP", 0, "bye"))),
            "481 Call/Transaction Does Not Exist");
  const std::string response = udp_exchange(
      port(), request("OPTIONS", "UDP", 0, "require", "Require: 100rel\r\nRequire: timer, foo\r\n"));
  EXPECT_EQ(status_line(response), "420 Bad Extension");
  EXPECT_NE(response.find("\r\nUnsupported: 100rel, timer, foo\r\n"), std::string::npos) << response;
}

TEST_F(HostileTest, AnInvalidContentLengthOnTcpClosesTheConnection) {
  start();
  TcpClient client(port());
  std::string bad = request("OPTIONS", "TCP", client.local_port(), "cl");
  bad.replace(bad.find("Content-Length: 0"), 17, "Content-Length: -5");
  client.send(bad);
  EXPECT_TRUE(client.closed_by_peer(3s));
}

TEST_F(HostileTest, SeveralMessagesOnOneConnectionAreEachAnswered) {
  start();
  TcpClient client(port());
  const uint16_t local = client.local_port();
  client.send("\r\n\r\n" + request("OPTIONS", "TCP", local, "p1") + request("OPTIONS", "TCP", local, "p2"));
  // The CRLF pong to the double-CRLF ping, then both answers in order.
  const std::string first = client.response();
  EXPECT_EQ(first.substr(0, 10), "\r\nSIP/2.0 ");
  EXPECT_EQ(status_of(first.substr(2)), 200);
  EXPECT_NE(first.find("Call-ID: p1@hostile"), std::string::npos);
  const std::string second = client.response();
  EXPECT_EQ(status_of(second), 200);
  EXPECT_NE(second.find("Call-ID: p2@hostile"), std::string::npos);
}

TEST_F(HostileTest, AHalfSentMessageIsTimedOut) {
  start("  connections: {message_timeout_s: 1, idle_timeout_s: 60}\n");
  TcpClient client(port());
  const std::string message = request("OPTIONS", "TCP", client.local_port(), "slow");
  client.send(message.substr(0, message.size() / 2));
  EXPECT_FALSE(client.closed_by_peer(500ms));
  EXPECT_TRUE(client.closed_by_peer(3s));
  EXPECT_NE(read_file(server_->log()).find("limit server.connections.message_timeout_s reached"),
            std::string::npos);
}

TEST_F(HostileTest, ManyHalfSentMessagesHoldBoundedMemoryAndAreClosed) {
  // 300 connections each stopping 60 KB into a message's headers held 589 MiB
  // through nta; here a connection buffers one message at most.
  start("  connections: {message_timeout_s: 2, idle_timeout_s: 60}\n");
  const std::string half =
      "OPTIONS sip:U1@C1.D1.H1 SIP/2.0\r\n" + values("X-Pad", std::string(100, 'p'), 560, false);
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < 300; ++i) {
    clients.push_back(std::make_unique<TcpClient>(port()));
    ASSERT_TRUE(clients.back()->send(half)) << i;
  }
  std::this_thread::sleep_for(500ms);
  // 300 buffers of at most 64 KiB + one read: about 20 MiB. A sanitizer build
  // (this test binary's build is the server's) adds redzones and shadow memory.
#if defined(__SANITIZE_ADDRESS__)
  constexpr long kBoundKiB = 80 * 1024;
#else
  constexpr long kBoundKiB = 40 * 1024;
#endif
  EXPECT_LT(rss_kib(server_->pid()) - baseline_rss_, kBoundKiB) << "too much memory for 300 half messages";
  for (auto& client : clients) EXPECT_TRUE(client->closed_by_peer(4s));
}

TEST_F(HostileTest, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  start("  connections: {message_timeout_s: 30, idle_timeout_s: 1}\n");
  TcpClient client(port());
  client.send(request("OPTIONS", "TCP", client.local_port(), "idle"));
  EXPECT_EQ(status_of(client.response()), 200);
  EXPECT_TRUE(client.closed_by_peer(4s));
}

TEST_F(HostileTest, AFloodOfIdleConnectionsDoesNotLockOutTheNextPhone) {
  start("  connections: {max: 40}\n");
  std::vector<std::unique_ptr<TcpClient>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<TcpClient>(port()));
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(open_descriptors(server_->pid()), baseline_fds_ + 40);
  // The oldest idle connection gives way: the newcomer is served.
  TcpClient phone(port());
  phone.send(request("OPTIONS", "TCP", phone.local_port(), "newcomer"));
  EXPECT_EQ(status_of(phone.response()), 200);
  const std::string log = read_file(server_->log());
  EXPECT_NE(log.find("limit server.connections.max reached"), std::string::npos);
  // One line when the limit starts biting, not one per connection.
  size_t lines = 0;
  for (size_t at = 0; (at = log.find("limit server.connections.max", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u);
}

TEST_F(HostileTest, RunningOutOfDescriptorsPausesAcceptInsteadOfSpinning) {
  // UBSan (GCC 12) checks that memory is readable through a pipe(): with no
  // descriptor left it fails and reports any uncached vptr check as "invalid
  // vptr" (seen on deleting the accept back-off's Timer) and halts homesipd.
  if (HOMESIP_TEST_SANITIZED) GTEST_SKIP() << "the sanitizer runtime itself needs descriptors";
  // 64 descriptors, and a connection limit above them: accept() fails with EMFILE.
  start("  connections: {max: 1000}\n", {"prlimit", "--nofile=64:64", "--"});
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < 120; ++i) clients.push_back(std::make_unique<TcpClient>(port()));
  std::this_thread::sleep_for(300ms);
  const long before = cpu_ticks(server_->pid());
  std::this_thread::sleep_for(1s);
  const long used = cpu_ticks(server_->pid()) - before;
  EXPECT_LT(used, sysconf(_SC_CLK_TCK) / 5) << "more than 20 % of a core while accept() fails";
  EXPECT_NE(read_file(server_->log()).find("limit accept reached"), std::string::npos);
  clients.clear();  // descriptors come back: accepting resumes
  std::this_thread::sleep_for(2500ms);
  TcpClient phone(port());
  phone.send(request("OPTIONS", "TCP", phone.local_port(), "after-emfile"));
  EXPECT_EQ(status_of(phone.response(5s)), 200);
}

TEST_F(HostileTest, APeerThatNeverReadsIsDropped) {
  start("  connections: {max_output_bytes: 65536}\n");
  TcpClient client(port());
  const uint16_t local = client.local_port();
  // Requests with long Call-IDs make long responses; none is read.
  const std::string padding(1000, 'x');
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += request("OPTIONS", "TCP", local, padding + std::to_string(i));
  for (int round = 0; round < 40 && client.send(burst); ++round) {
  }
  EXPECT_NE(read_file(server_->log()).find("limit server.connections.max_output_bytes reached"),
            std::string::npos);
}

TEST_F(HostileTest, AnUnreadableRequestLineIsAnswered) {
  start();
  // RFC 4475 3.1.1.4 intmeth: a method token of unusual (valid) characters.
  const std::string method = "!interesting-Method0123456789_*+`.%indeed'~";
  const std::string response = udp_exchange(port(), request(method, "UDP", 0, "intmeth"));
  EXPECT_EQ(status_line(response), "501 Not Implemented");
}

TEST_F(HostileTest, ACSeqAbove32BitsIsABadCSeq) {
  start();
  const std::string response =
      udp_exchange(port(), request("OPTIONS", "UDP", 0, "cseq", "", "36893488147419103232"));
  EXPECT_EQ(status_line(response), "400 Bad CSeq Header");
}

TEST_F(HostileTest, ANegativeContactExpiresIs400) {
  start();
  const std::string response = udp_exchange(
      port(), request("REGISTER", "UDP", 0, "negexp", "Contact: <sip:U1@127.0.0.1:9>;expires=-5\r\n"));
  EXPECT_EQ(status_line(response), "400 Invalid Contact Expires");
}

TEST_F(HostileTest, TlsIsServedAndBoundedLikeTcp) {
  make_certificate(dir_.path());
  server_ =
      std::make_unique<HomesipServer>(dir_, ServerOptions{"H1", "C1.D1", plugins(dir_),
                                                          "  tls_certificates: " + dir_.path().string() +
                                                              "\n  connections: {message_timeout_s: 1}\n"});
  const uint16_t tls = free_port();
  server_->set_extra_arguments({"--set", "server.listen=[udp:127.0.0.1:" + std::to_string(server_->port()) +
                                             ", tls:127.0.0.1:" + std::to_string(tls) + "]"});
  server_->start();
  record_baseline();
  {
    TlsClient client(tls);
    ASSERT_TRUE(client.handshake_ok());
    client.send(request("OPTIONS", "TLS", client.local_port(), "tls"));
    const std::string response = client.response();
    EXPECT_EQ(status_line(response), "200 OK");
    EXPECT_NE(response.find("Via: SIP/2.0/TLS 127.0.0.1:"), std::string::npos);
  }
  {
    TlsClient client(tls);
    ASSERT_TRUE(client.handshake_ok());
    client.send(request("OPTIONS", "TLS", client.local_port(), "tls-big",
                        values("Route", "<sip:a;lr>", 10000, true)));
    EXPECT_EQ(status_line(client.response()), "513 Message Too Large");
  }
  // Connected, and never a handshake: closed once the first message is late.
  TcpClient silent(tls);
  EXPECT_FALSE(silent.closed_by_peer(300ms));
  EXPECT_TRUE(silent.closed_by_peer(3s));
}

}  // namespace
