// Flood and abuse against a running homesipd (issue 13 part 6): a REGISTER
// flood with SIPp from 127.0.0.2 while a legitimate client registers with a
// password from 127.0.0.3 (its success rate, the flooder's limited messages
// and the server's memory are printed and bounded); the rate limit's 503 with
// a jittered Retry-After; and the bound on UDP amplification: a tiny request
// whose answer would be more than three times its size gets nothing, an
// ordinary one gets its answer. The amplification ratios of docs/security.md
// are measured here too (FloodTest.MeasuresAmplificationRatios).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }

// A UDP socket bound to `ip` (any 127.0.0.0/8 address), for a sender of its own.
class SourceSocket {
 public:
  explicit SourceSocket(const std::string& ip) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &local.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    socklen_t length = sizeof local;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length);
    port_ = ntohs(local.sin_port);
  }
  ~SourceSocket() { close(fd_); }
  SourceSocket(const SourceSocket&) = delete;
  SourceSocket& operator=(const SourceSocket&) = delete;
  uint16_t port() const { return port_; }
  void send(uint16_t to, const std::string& text) const {
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(to);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&server), sizeof server);
  }
  // The next datagram, or "" after `timeout`.
  std::string receive(std::chrono::milliseconds timeout) const {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[65536];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

std::string header_value(const std::string& response, const std::string& name) {
  std::smatch m;
  if (std::regex_search(response, m, std::regex("\r\n" + name + ": *([^\r]*)\r\n", std::regex::icase)))
    return m[1];
  return "";
}

// VmRSS or VmHWM of `pid` in KiB, from /proc.
long memory_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// A SIPp counter from its final screen ("Successful call | 0 | 97").
long sipp_count(const std::string& output, const std::string& name) {
  std::smatch m;
  long last = -1;
  std::string rest = output;
  const std::regex row(name + R"( +\| +\d+ +\| +(\d+))");
  while (std::regex_search(rest, m, row)) {
    last = std::stol(m[1]);
    rest = m.suffix();
  }
  return last;
}

// REGISTER -> 401 -> REGISTER with credentials (-au/-ap) -> 200, answered within 5 s each.
const char* const kRegisterWithPassword = R"(<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with a password">
  <send retrans="500"><![CDATA[
      REGISTER sip:[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[user]@[domain]>;tag=[pid]T[call_number]
      To: <sip:[user]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[user]@[local_ip]:[local_port]>
      Expires: 600
      Content-Length: 0

  ]]></send>
  <recv response="401" auth="true" timeout="5000"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:[user]@[domain]>;tag=[pid]T[call_number]
      To: <sip:[user]@[domain]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[user]@[local_ip]:[local_port]>
      [authentication]
      Expires: 600
      Content-Length: 0

  ]]></send>
  <recv response="200" timeout="5000"/>
</scenario>
)";

// One REGISTER per call, nothing awaited: a flooder does not wait for its 401s.
const char* const kRegisterFlood = R"(<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register flood">
  <send><![CDATA[
      REGISTER sip:C1.D1.H1 SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:U1@C1.D1.H1>;tag=[pid]T[call_number]
      To: <sip:U1@C1.D1.H1>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:U1@[local_ip]:[local_port]>
      Expires: 600
      Content-Length: 0

  ]]></send>
</scenario>
)";

class FloodTest : public ::testing::Test {
 protected:
  // A family server with auth-digest (MD5: what SIPp answers) and the
  // registrar; `server_yaml` adds to its server: block.
  void start(const std::string& server_yaml, const std::string& auth_settings = "    algorithms: [MD5]\n") {
    socket_ = (dir_ / "h1.sock").string();
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                                "\n  - plugin: auth-digest\n    realm: C1.D1.H1\n    secret_file: " +
                                (dir_ / "nonce.secret").string() + "\n" + auth_settings +
                                "  - plugin: registrar\n    domains: [C1.D1.H1]\n",
                            "  admin_socket: " + socket_ + "\n" + server_yaml});
    server_->start();
  }
  void add_user(const std::string& aor, const std::string& password) {
    const auto file = dir_ / ("password-" + aor);
    write_file(file, password + "\n");
    std::filesystem::permissions(file,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::string out;
    ASSERT_EQ(run({homesipctl(), "--socket", socket_, "user", "add", aor, "--password-file", file.string()},
                  &out, 10s),
              0)
        << out;
  }
  nlohmann::json stats() {
    std::string out;
    EXPECT_EQ(run({homesipctl(), "--socket", socket_, "--json", "stats"}, &out, 10s), 0) << out;
    return nlohmann::json::parse(out, nullptr, false);
  }
  static uint64_t limit_hits(const nlohmann::json& stats, const std::string& limit) {
    const auto& hits = stats["limits_hit"];
    return hits.contains(limit) ? hits[limit].get<uint64_t>() : 0;
  }
  static uint64_t metric(const nlohmann::json& stats, const std::string& name) {
    const auto& metrics = stats["metrics"];
    return metrics.contains(name) ? metrics[name].get<uint64_t>() : 0;
  }
  std::vector<std::string> sipp_argv(const std::string& scenario, const std::string& ip, int calls,
                                     int rate) {
    const auto file = dir_ / (scenario + ".xml");
    write_file(file, scenario == "flood" ? kRegisterFlood : kRegisterWithPassword);
    return {"sipp",     "127.0.0.1:" + std::to_string(server_->port()),
            "-sf",      file.string(),
            "-t",       "u1",
            "-i",       ip,
            "-p",       std::to_string(free_port()),
            "-m",       std::to_string(calls),
            "-r",       std::to_string(rate),
            "-nostdin", "-buff_size",
            "4194304"};
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

}  // namespace

TEST_F(FloodTest, ALegitimateClientRegistersThroughARegisterFlood) {
  // The defaults but for loopback's exemption: only the harness's own 127.0.0.1 is spared.
  // HOMESIP_FLOOD_UNLIMITED=1 spares the flooder too, to measure the server's capacity
  // (docs/security.md); the assertions on the limit then fail, as they should.
  const bool unlimited = std::getenv("HOMESIP_FLOOD_UNLIMITED") != nullptr;
  start(unlimited ? "  rate_limit:\n    exempt: [127.0.0.1/32, 127.0.0.2/32]\n"
                  : "  rate_limit:\n    exempt: [127.0.0.1/32]\n");
  add_user("U1@C1.D1.H1", "flood-test-secret");
  const long rss_before = memory_kib(server_->pid(), "VmRSS");

  constexpr int kLegitCalls = 100, kLegitRate = 10;  // two requests each: 20 requests/s, under 100/s
  // Three SIPp processes from 127.0.0.2: one alone sends about what the server answers without
  // the limit; three together send about 3 times that (docs/security.md, both runs).
  constexpr int kFlooders = 3, kFloodRate = 40000, kFloodSeconds = 8;
  auto legit_argv = sipp_argv("legit", "127.0.0.3", kLegitCalls, kLegitRate);
  for (const char* a : {"-key", "user", "U1", "-key", "domain", "C1.D1.H1", "-au", "U1", "-ap",
                        "flood-test-secret", "-auth_uri", "C1.D1.H1", "-timeout", "40s"})
    legit_argv.push_back(a);
  const std::string legit_messages = (dir_ / "legit.msg").string();
  for (const std::string& a : {std::string("-trace_msg"), std::string("-message_file"), legit_messages})
    legit_argv.push_back(a);

  Process legit(legit_argv, dir_ / "legit.out");
  std::this_thread::sleep_for(1s);  // the legitimate client is registering when the flood starts
  const auto flood_started = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Process>> flooders;
  for (int i = 0; i < kFlooders; ++i) {
    auto argv = sipp_argv("flood", "127.0.0.2", kFloodRate * kFloodSeconds, kFloodRate);
    for (const char* a : {"-timeout", "12s"}) argv.push_back(a);
    flooders.push_back(std::make_unique<Process>(argv, dir_ / ("flood" + std::to_string(i) + ".out")));
  }
  long flood_sent = 0;
  std::string flood_out;
  for (int i = 0; i < kFlooders; ++i) {
    flooders[i]->wait(30s);
    flood_out = read_file(dir_ / ("flood" + std::to_string(i) + ".out"));
    flood_sent += std::max(0L, sipp_count(flood_out, "Successful call"));
  }
  const double flood_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_started).count();
  const long rss_after_flood = memory_kib(server_->pid(), "VmRSS");
  ASSERT_GE(legit.wait(60s), 0) << "the legitimate client did not finish";
  const std::string legit_out = read_file(dir_ / "legit.out");

  const long legit_ok = sipp_count(legit_out, "Successful call");
  const auto s = stats();
  const uint64_t limited = limit_hits(s, "server.rate_limit");
  const uint64_t challenges = metric(s, "homesip_auth_digest_challenges_total");
  const uint64_t auth_ok = metric(s, "homesip_auth_digest_auth_ok_total");
  const long peak = memory_kib(server_->pid(), "VmHWM");
  std::printf(
      "flood: %ld REGISTERs from 127.0.0.2 in %.1f s (%.0f/s); %llu dropped by the rate limit; %llu "
      "challenges sent in all\nlegitimate client on 127.0.0.3: %ld of %d registrations with a password "
      "succeeded (%.1f %%), auth_ok_total %llu\nhomesipd memory: VmRSS %ld KiB before, %ld KiB after the "
      "flood, VmHWM %ld KiB\n",
      flood_sent, flood_s, flood_sent / flood_s, static_cast<unsigned long long>(limited),
      static_cast<unsigned long long>(challenges), legit_ok, kLegitCalls, 100.0 * legit_ok / kLegitCalls,
      static_cast<unsigned long long>(auth_ok), rss_before, rss_after_flood, peak);

  ASSERT_GT(flood_sent, 100000) << "the flood was not one:\n" << flood_out;
  EXPECT_GE(legit_ok * 100, kLegitCalls * 95) << legit_out << read_file(legit_messages).substr(0, 4000);
  EXPECT_GE(auth_ok, static_cast<uint64_t>(legit_ok)) << "every success was a REGISTER with a password";
  // The flooder's 401s: at most its burst (200) and 100/s over the flood; the
  // legitimate client's: one per call, and a few retransmissions.
  const double flooder_challenges = static_cast<double>(challenges) - kLegitCalls * 1.1;
  EXPECT_LE(flooder_challenges, 200 + 100 * (flood_s + 1.0));
  // What the kernel delivered and the limit did not admit was dropped: all
  // but the admitted part of what SIPp sent, less what the socket buffer lost.
  EXPECT_LE(limited, static_cast<uint64_t>(flood_sent));
  EXPECT_GE(static_cast<double>(limited), 0.9 * flood_sent - flooder_challenges);
  EXPECT_LT(peak, 128 * 1024) << "KiB";
  // It still answers at once after the flood.
  EXPECT_EQ(status_of(udp_exchange(server_->port(),
                                   "OPTIONS sip:C1.D1.H1 SIP/2.0\n"
                                   "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK-after\n"
                                   "From: <sip:probe@example.net>;tag=1\nTo: <sip:C1.D1.H1>\n"
                                   "Call-ID: after-flood\nCSeq: 1 OPTIONS\n"
                                   "Content-Length: 0\n\n")),
            200);
}

TEST_F(FloodTest, OverTheRateA503WithAJitteredRetryAfter) {
  start(
      "  rate_limit:\n    requests_per_second: 1\n    burst: 5\n    action: 503\n    exempt: "
      "[127.0.0.1/32]\n");
  SourceSocket sender("127.0.0.4");
  for (int i = 0; i < 20; ++i)
    sender.send(server_->port(),
                crlf("OPTIONS sip:C1.D1.H1 SIP/2.0\n"
                     "Via: SIP/2.0/UDP 127.0.0.4:" +
                     std::to_string(sender.port()) + ";branch=z9hG4bK-rate" + std::to_string(i) +
                     "\nFrom: <sip:probe@example.net>;tag=1\nTo: <sip:C1.D1.H1>\n"
                     "Call-ID: rate-" +
                     std::to_string(i) + "\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  int ok = 0, unavailable = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string response = sender.receive(2s);
    if (response.empty()) break;
    if (status_of(response) == 200) ++ok;
    if (status_of(response) == 503) {
      ++unavailable;
      const int retry_after = std::stoi("0" + header_value(response, "Retry-After"));
      EXPECT_GE(retry_after, 5) << response;
      EXPECT_LE(retry_after, 10) << response;
    }
  }
  EXPECT_EQ(ok, 5) << "the burst";
  EXPECT_EQ(unavailable, 15);
  EXPECT_EQ(limit_hits(stats(), "server.rate_limit"), 15u);
}

TEST_F(FloodTest, ATinyRequestGetsNoAnswerLargerThanThreeTimesItself) {
  start("", "");  // udp_amplification: 3, the default; SHA-256 and MD5 challenges
  SourceSocket sender("127.0.0.5");
  const std::string via = "v:SIP/2.0/UDP 127.0.0.5:" + std::to_string(sender.port()) + ";branch=z9hG4bK";
  // 150 bytes of compact headers: its 401 with two challenges (459 bytes) is more than 3 x 150.
  const std::string tiny =
      crlf("REGISTER sip:C1.D1.H1 SIP/2.0\n" + via +
           "1\nf:<sip:U1@C1.D1.H1>;tag=1\nt:<sip:U1@C1.D1.H1>\ni:a\nCSeq:1 REGISTER\n\n");
  sender.send(server_->port(), tiny);
  EXPECT_EQ(sender.receive(1500ms), "") << "no answer to a " << tiny.size() << "-byte REGISTER";
  // A phone's REGISTER (Contact, Max-Forwards, Expires, User-Agent): its 401 goes out.
  const std::string phone = crlf(
      "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.5:" + std::to_string(sender.port()) +
      ";rport;branch=z9hG4bK-phone1\nMax-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=8f3a2c\n"
      "To: <sip:U1@C1.D1.H1>\nCall-ID: 5d1b7e0c9a@192.0.2.10\nCSeq: 1 REGISTER\n"
      "Contact: <sip:U1@127.0.0.5:" +
      std::to_string(sender.port()) +
      ";transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\n"
      "Expires: 600\nUser-Agent: baresip v1.0.0 (x86_64/linux)\n"
      "Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE\nContent-Length: 0\n\n");
  sender.send(server_->port(), phone);
  const std::string challenge = sender.receive(3s);
  EXPECT_EQ(status_of(challenge), 401) << "a " << phone.size() << "-byte REGISTER";
  std::printf("a %zu-byte REGISTER got nothing; a %zu-byte one got its %zu-byte 401 (ratio %.2f)\n",
              tiny.size(), phone.size(), challenge.size(),
              static_cast<double>(challenge.size()) / phone.size());
  EXPECT_EQ(limit_hits(stats(), "server.limits.udp_amplification"), 1u);
}

// The figures of docs/security.md: each answer's size over the smallest
// valid request that gets it (compact headers, no optional header), with the
// bound off. The 401 of auth-digest (SHA-256 and MD5 challenges) and the
// registrar's 404 for another domain; the 302 and 480 of a family server with
// the tree plugin, for a user registered with one contact and for one that
// has no binding; the core's 200 to OPTIONS.
TEST_F(FloodTest, MeasuresAmplificationRatios) {
  start("  limits:\n    udp_amplification: 0\n", "");
  SourceSocket sender("127.0.0.6");
  const std::string via = "v:SIP/2.0/UDP 127.0.0.6:" + std::to_string(sender.port()) + ";branch=z9hG4bK";
  const auto exchange = [&](uint16_t port, const std::string& request) {
    sender.send(port, request);
    const std::string response = sender.receive(3s);
    std::printf("%-44s %4zu bytes -> %-24s %5zu bytes: ratio %.2f\n",
                request.substr(0, request.find(" SIP/2.0")).c_str(), request.size(),
                response.substr(8, response.find('\r') - 8).c_str(), response.size(),
                static_cast<double>(response.size()) / request.size());
    return response;
  };
  const std::string tiny_register =
      crlf("REGISTER sip:C1.D1.H1 SIP/2.0\n" + via +
           "1\nf:<sip:U1@C1.D1.H1>;tag=1\nt:<sip:U1@C1.D1.H1>\ni:a\nCSeq:1 REGISTER\n\n");
  const std::string challenge = exchange(server_->port(), tiny_register);
  ASSERT_EQ(status_of(challenge), 401);
  EXPECT_GT(challenge.size(), 3 * tiny_register.size()) << "why the default bound of 3 withholds it";
  // The registrar's 404 for a domain it does not serve (auth-digest lets another realm's REGISTER pass).
  EXPECT_EQ(status_of(exchange(server_->port(),
                               crlf("REGISTER sip:x SIP/2.0\n" + via +
                                    "6\nf:<sip:U1@x>;tag=1\nt:<sip:U1@x>\ni:f\nCSeq:1 REGISTER\n\n"))),
            404);

  // A family server in a tree whose top is not there: it still answers for its own users.
  TempDir tree_dir;
  HomesipServer family(
      tree_dir,
      ServerOptions{"H1", "C1.D1",
                    "  - plugin: location-sqlite\n    path: " + (tree_dir / "location.sqlite").string() +
                        "\n" +
                        tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(free_port())) +
                        "  - plugin: registrar\n",
                    "  limits:\n    udp_amplification: 0\n"});
  family.start();
  const std::string contact = "<sip:U1@192.0.2.10:5060>";
  ASSERT_EQ(status_of(exchange(family.port(), crlf("REGISTER sip:C1.D1.H1 SIP/2.0\n" + via +
                                                   "2\nf:<sip:U1@C1.D1.H1>;tag=1\nt:<sip:U1@C1.D1.H1>\ni:b\n"
                                                   "CSeq:1 REGISTER\nm:" +
                                                   contact + "\n\n"))),
            200);
  const std::string invite = crlf("INVITE sip:U1@C1.D1.H1 SIP/2.0\n" + via +
                                  "3\nf:<sip:a@b>;tag=1\nt:<sip:U1@C1.D1.H1>\ni:c\nCSeq:1 INVITE\n\n");
  EXPECT_EQ(status_of(exchange(family.port(), invite)), 302);
  const std::string unknown = crlf("INVITE sip:U9@C1.D1.H1 SIP/2.0\n" + via +
                                   "4\nf:<sip:a@b>;tag=1\nt:<sip:U9@C1.D1.H1>\ni:d\nCSeq:1 INVITE\n\n");
  EXPECT_EQ(status_of(exchange(family.port(), unknown)), 480) << "a user of the family with no binding";
  const std::string options = crlf("OPTIONS sip:C1.D1.H1 SIP/2.0\n" + via +
                                   "5\nf:<sip:a@b>;tag=1\nt:<sip:C1.D1.H1>\ni:e\nCSeq:1 OPTIONS\n\n");
  EXPECT_EQ(status_of(exchange(family.port(), options)), 200);
}

// Overload shedding seen from outside: test-hold keeps every MESSAGE waiting
// 1.5 s (as behind a slow store); with max_pending 2 the third one is shed at
// once with 503 and a jittered Retry-After, the two held get their 200s, and
// once they are answered the server takes requests again.
TEST(OverloadTest, PastMaxPendingANewRequestGets503AndTheServerRecovers) {
  TempDir dir;
  const std::string socket = (dir / "h1.sock").string();
  HomesipServer server(dir,
                       ServerOptions{"H1", "C1.D1", "  - plugin: test-hold\n    hold_ms: 1500\n",
                                     "  admin_socket: " + socket + "\n  overload:\n    max_pending: 2\n"});
  server.set_extra_arguments({"--set", "server.plugin_dirs=[" + plugin_dir() + ", " +
                                           std::string(HOMESIP_TEST_FIXTURE_PLUGIN_DIR) + "]"});
  server.start();
  SourceSocket sender("127.0.0.6");
  const auto message = [&](int i) {
    return crlf("MESSAGE sip:U1@C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.6:" +
                std::to_string(sender.port()) + ";branch=z9hG4bK-held" + std::to_string(i) +
                "\nFrom: <sip:probe@example.net>;tag=1\nTo: <sip:U1@C1.D1.H1>\nCall-ID: held-" +
                std::to_string(i) + "\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n");
  };
  for (int i = 0; i < 3; ++i) sender.send(server.port(), message(i));
  std::map<std::string, int> status_by_call;
  for (int i = 0; i < 3; ++i) {
    const std::string response = sender.receive(4s);
    ASSERT_FALSE(response.empty()) << "only " << i << " answers";
    status_by_call[header_value(response, "Call-ID")] = status_of(response);
    if (status_of(response) == 503) {
      EXPECT_EQ(response.substr(0, response.find("\r\n")), "SIP/2.0 503 Overloaded") << response;
      const int retry_after = std::stoi("0" + header_value(response, "Retry-After"));
      EXPECT_GE(retry_after, 5) << response;
      EXPECT_LE(retry_after, 10) << response;
    }
  }
  EXPECT_EQ(status_by_call, (std::map<std::string, int>{{"held-0", 200}, {"held-1", 200}, {"held-2", 503}}));
  // Nothing waits now: the next request is served, not shed.
  sender.send(server.port(), message(3));
  EXPECT_EQ(status_of(sender.receive(4s)), 200);
  std::string out;
  ASSERT_EQ(run({homesipctl(), "--socket", socket, "--json", "stats"}, &out, 10s), 0) << out;
  const auto stats = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(stats["limits_hit"].value("server.overload", uint64_t{0}), 1u) << out;
}

// A retransmission of a request still waiting for its answer (test-hold keeps
// it 800 ms, as a store keeps a REGISTER until its commit) is absorbed, as a
// server transaction would (RFC 3261 17.2.1): three copies sent at once get
// one 200, and homesipctl stats counts the two dropped. Once answered, the
// same request is served again (stateless: a late retransmission gets its
// own answer), and nothing more is counted.
TEST(OverloadTest, ARetransmissionOfAHeldRequestIsAbsorbedAndAnsweredOnce) {
  TempDir dir;
  const std::string socket = (dir / "h1.sock").string();
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", "  - plugin: test-hold\n    hold_ms: 800\n",
                                          "  admin_socket: " + socket + "\n"});
  server.set_extra_arguments({"--set", "server.plugin_dirs=[" + plugin_dir() + ", " +
                                           std::string(HOMESIP_TEST_FIXTURE_PLUGIN_DIR) + "]"});
  server.start();
  SourceSocket sender("127.0.0.8");
  const std::string message =
      crlf("MESSAGE sip:U1@C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.8:" + std::to_string(sender.port()) +
           ";branch=z9hG4bK-again\nFrom: <sip:probe@example.net>;tag=1\nTo: <sip:U1@C1.D1.H1>\n"
           "Call-ID: again\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n");
  const auto absorbed = [&] {
    std::string out;
    EXPECT_EQ(run({homesipctl(), "--socket", socket, "--json", "stats"}, &out, 10s), 0) << out;
    const auto stats = nlohmann::json::parse(out, nullptr, false);
    return stats.is_object() && stats.contains("loops")
               ? stats["loops"][0].value("retransmissions_absorbed", int64_t{-1})
               : int64_t{-1};
  };
  for (int i = 0; i < 3; ++i) sender.send(server.port(), message);
  const std::string first = sender.receive(4s);
  EXPECT_EQ(first.substr(0, first.find("\r\n")), "SIP/2.0 200 Held") << first;
  EXPECT_EQ(sender.receive(1500ms), "") << "a second answer to the same transaction";
  EXPECT_EQ(absorbed(), 2);
  sender.send(server.port(), message);
  const std::string again = sender.receive(4s);
  EXPECT_EQ(again.substr(0, again.find("\r\n")), "SIP/2.0 200 Held") << again;
  EXPECT_EQ(absorbed(), 2);
}

// A loop that falls behind while its own tick keeps time: the requests wait
// in the socket's queue instead. Stopped (SIGSTOP) for 600 ms while two
// OPTIONS arrive, the server answers both 503 Overloaded with a jittered
// Retry-After once it runs again (they waited past max_queue_delay_ms 300),
// and serves the next one; with the rule off (0) the same wait gets 200s. The
// loop-lag rule is off in both, so only the queue delay can shed.
TEST(OverloadTest, RequestsQueuedPastMaxQueueDelayGet503AndTheNextIsServed) {
  for (const int max_queue_delay_ms : {300, 0}) {
    SCOPED_TRACE("max_queue_delay_ms " + std::to_string(max_queue_delay_ms));
    TempDir dir;
    HomesipServer server(dir, ServerOptions{"H1", "C1.D1", "",
                                            "  overload:\n    max_loop_lag_ms: 0\n    max_queue_delay_ms: " +
                                                std::to_string(max_queue_delay_ms) + "\n"});
    server.start();
    SourceSocket sender("127.0.0.7");
    const auto options = [&](int i) {
      return crlf("OPTIONS sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.7:" +
                  std::to_string(sender.port()) + ";branch=z9hG4bK-queued" + std::to_string(i) +
                  "\nFrom: <sip:probe@example.net>;tag=1\nTo: <sip:C1.D1.H1>\nCall-ID: queued-" +
                  std::to_string(i) + "\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n");
    };
    ASSERT_EQ(kill(server.pid(), SIGSTOP), 0);
    sender.send(server.port(), options(0));
    sender.send(server.port(), options(1));
    std::this_thread::sleep_for(600ms);
    ASSERT_EQ(kill(server.pid(), SIGCONT), 0);
    for (int i = 0; i < 2; ++i) {
      const std::string response = sender.receive(4s);
      ASSERT_FALSE(response.empty()) << "only " << i << " answers";
      if (max_queue_delay_ms == 0) {
        EXPECT_EQ(status_of(response), 200) << response;
        continue;
      }
      EXPECT_EQ(response.substr(0, response.find("\r\n")), "SIP/2.0 503 Overloaded") << response;
      const int retry_after = std::stoi("0" + header_value(response, "Retry-After"));
      EXPECT_GE(retry_after, 5) << response;
      EXPECT_LE(retry_after, 10) << response;
    }
    sender.send(server.port(), options(2));
    EXPECT_EQ(status_of(sender.receive(4s)), 200);
  }
}
