// bench/loadgen end to end, bounded (a few hundred requests, about a second each): plain REGISTERs
// (new bindings, then refreshes of the same Call-IDs) against a real homesipd, INVITE -> 302 + ACK
// against a family server, and the bare responder answering evenly spaced and bursty loads. The
// loadgen's --tsv line is read column by column and every count asserted exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

constexpr const char* kDomain = "C1.D1.H1";

int load(std::vector<std::string> arguments, std::string* output) {
  arguments.insert(arguments.begin(), HOMESIP_TEST_LOADGEN);
  return run(arguments, output, std::chrono::seconds(30));
}

std::vector<std::string> at_500_per_second(const std::string& command, uint16_t port, int requests) {
  return {command,
          "--server",
          "127.0.0.1:" + std::to_string(port),
          "--domain",
          kDomain,
          "--requests",
          std::to_string(requests),
          "--rate",
          "500",
          "--max-seconds",
          "10",
          "--timeout-ms",
          "3000",
          "--tsv"};
}

// The loadgen's --tsv line in `out` says every one of `requests` started and ended 200 (or the
// expected final), none failed or timed out.
void expect_all_ok(const std::string& out, uint64_t requests) {
  const LoadgenLine line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.requests, requests) << out;
  EXPECT_EQ(line.ok, requests) << out;
  EXPECT_EQ(line.failed, 0u) << out;
  EXPECT_EQ(line.timed_out, 0u) << out;
}

class LoadgenTest : public ::testing::Test {
 protected:
  // A family server without the tree: location-sqlite and a registrar for kDomain, with
  // `registrar_settings` ("    max_bindings_per_aor: 1\n").
  void start_registrar(const std::string& registrar_settings = "") {
    server_ = std::make_unique<HomesipServer>(
        dir_,
        ServerOptions{"H1", "C1.D1",
                      "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                          "\n  - plugin: registrar\n    domains: [" + kDomain + "]\n" + registrar_settings,
                      "  udp_buffer_bytes: 4194304\n" + loops_yaml()});
    server_->set_extra_arguments({"--set", "log.level=warn"});
    server_->start();
  }
  // A family server H1 of C1.D1 with the tree: INVITE user@C1.D1.H1 -> 302 to the user's contacts.
  void start_family() {
    server_ = std::make_unique<HomesipServer>(
        dir_,
        ServerOptions{"H1", "C1.D1",
                      "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() + "\n" +
                          tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:9") + "  - plugin: registrar\n",
                      "  udp_buffer_bytes: 4194304\n"});
    server_->set_extra_arguments({"--set", "log.level=warn"});
    server_->start();
  }
  // The bare responder on a free port (its log: responder_log()), bound once one REGISTER got its
  // answer: what is sent next is not retransmitted for want of a listener.
  void start_bound_responder() {
    responder_port_ = free_port();
    responder_ = std::make_unique<Process>(
        std::vector<std::string>{HOMESIP_TEST_LOADGEN, "responder", "--listen",
                                 "127.0.0.1:" + std::to_string(responder_port_), "--max-seconds", "30"},
        responder_log());
    auto probe = at_500_per_second("register", responder_port_, 1);
    probe.insert(probe.end(), {"--no-auth", "--users", "1"});
    std::string out;
    ASSERT_EQ(load(probe, &out), 0) << out;
  }
  std::filesystem::path responder_log() const { return dir_ / "responder.log"; }
  // server.loops: N when a test runs with more than one loop (LoadgenLoopsTest).
  std::string loops_yaml() const { return loops_ > 1 ? "  loops: " + std::to_string(loops_) + "\n" : ""; }
  int loops_ = 1;
  TempDir dir_;
  std::unique_ptr<HomesipServer> server_;
  uint16_t responder_port_ = 0;
  std::unique_ptr<Process> responder_;
};

// What depends on how homesipd spreads UDP over its loops (SO_REUSEPORT, by source port): run with
// server.loops 1 and 2.
class LoadgenLoopsTest : public LoadgenTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override { loops_ = GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Loops, LoadgenLoopsTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == 1 ? std::string("OneLoop") : std::string("TwoLoops");
                         });

// 100 users registered, then each refreshed once (same Call-ID, CSeq 2, same Contact): 200 of 200.
TEST_F(LoadgenTest, PlainRegisterNewThenRefreshAllOk) {
  start_registrar();
  auto arguments = at_500_per_second("register", server_->port(), 200);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "100", "--call-id", "per-user"});
  std::string out;
  ASSERT_EQ(load(arguments, &out), 0) << out;
  expect_all_ok(out, 200);
  EXPECT_EQ(parse_loadgen_tsv(out).retransmissions, 0u) << out;
}

// A domain the registrar does not serve: every REGISTER fails, and the loadgen says so (exit 1).
TEST_F(LoadgenTest, PlainRegisterToAnotherDomainFailsEveryRequest) {
  start_registrar();
  auto arguments = at_500_per_second("register", server_->port(), 50);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "50"});
  arguments[4] = "elsewhere.example";  // --domain
  std::string out;
  ASSERT_EQ(load(arguments, &out), 1) << out;
  const LoadgenLine line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.requests, 50u) << out;
  EXPECT_EQ(line.ok, 0u) << out;
  EXPECT_EQ(line.failed, 50u) << out;
  EXPECT_EQ(line.timed_out, 0u) << out;
}

// 50 users registered, then 200 INVITEs to them: each answered 302 and ACKed.
TEST_F(LoadgenTest, InviteToRegisteredUsersGets302) {
  start_family();
  std::string out;
  auto preload = at_500_per_second("register", server_->port(), 50);
  preload.insert(preload.end(), {"--no-auth", "--users", "50"});
  ASSERT_EQ(load(preload, &out), 0) << out;
  auto invite = at_500_per_second("invite", server_->port(), 200);
  invite.insert(invite.end(), {"--users", "50", "--expect", "302"});
  ASSERT_EQ(load(invite, &out), 0) << out;
  expect_all_ok(out, 200);
}

// The bare responder answers every REGISTER and INVITE with a 200, evenly spaced or in bursts
// of 32 with at most 16 in flight; an INVITE expecting 302 gets a 200 and counts as failed.
TEST_F(LoadgenTest, BareResponderAnswersEvenAndBurstyLoads) {
  const uint16_t port = free_port();
  Process responder({HOMESIP_TEST_LOADGEN, "responder", "--listen", "127.0.0.1:" + std::to_string(port),
                     "--max-seconds", "30"},
                    dir_ / "responder.log");
  std::string out;
  auto even = at_500_per_second("register", port, 300);
  even.insert(even.end(), {"--no-auth", "--users", "300"});
  // The responder may not be bound yet: the first REGISTERs are retransmitted, still within 3 s.
  ASSERT_EQ(load(even, &out), 0) << out;
  EXPECT_EQ(parse_loadgen_tsv(out).ok, 300u) << out;

  auto burst = at_500_per_second("register", port, 320);
  burst.insert(burst.end(),
               {"--no-auth", "--users", "320", "--pattern", "burst", "--burst", "32", "--window", "16"});
  ASSERT_EQ(load(burst, &out), 0) << out;
  LoadgenLine line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.ok, 320u) << out;
  EXPECT_EQ(line.retransmissions, 0u) << out;

  auto invite = at_500_per_second("invite", port, 20);
  invite.insert(invite.end(), {"--users", "20", "--expect", "302"});
  ASSERT_EQ(load(invite, &out), 1) << out;
  line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.ok, 0u) << out;
  EXPECT_EQ(line.failed, 20u) << out;
  EXPECT_EQ(responder.stop(), 0);
}

// The four columns --honour-retry-after and --follow-redirects add after the 13 of every --tsv line.
struct RetryColumns {
  uint64_t busy_503 = 0, busy_retries = 0, redirects = 0, max_hops = 0;
  double elapsed_s = 0;
};
RetryColumns parse_retry_columns(const std::string& out) {
  std::istringstream in(out);
  std::string skipped;
  for (int column = 0; column < 11; ++column) in >> skipped;
  RetryColumns r;
  in >> r.elapsed_s >> skipped >> r.busy_503 >> r.busy_retries >> r.redirects >> r.max_hops;
  return r;
}

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// --sockets 4: the requests leave from 4 source ports, round-robin (the bare responder counts the
// requests per source port: 100 each), and each socket reads its own answers. A probe of one
// request first makes sure the responder is bound, so that nothing is retransmitted.
TEST_F(LoadgenTest, SocketsSpreadRequestsOverSourcePortsRoundRobin) {
  ASSERT_NO_FATAL_FAILURE(start_bound_responder());
  std::string out;
  auto spread = at_500_per_second("register", responder_port_, 400);
  spread.insert(spread.end(), {"--no-auth", "--users", "100", "--sockets", "4"});
  ASSERT_EQ(load(spread, &out), 0) << out;
  const LoadgenLine line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.ok, 400u) << out;
  EXPECT_EQ(line.retransmissions, 0u) << out;
  EXPECT_EQ(responder_->stop(), 0);
  EXPECT_NE(file_text(responder_log()).find("answered 401 requests from 5 source ports (1 to 100 each)"),
            std::string::npos)
      << file_text(responder_log());
}

// --tick-us 8000 at 100/s: request i is due at i * 10 ms, rounded up to the next 8 ms tick (never
// early), so the last of 20 leaves at 192 ms, not 190 ms; the answers are read once per tick, so
// each request is timed at a whole tick, 8 ms, where the responder answers in well under 1 ms.
TEST_F(LoadgenTest, TickSendsTheRequestsDueTogetherAndReadsAnswersOncePerTick) {
  ASSERT_NO_FATAL_FAILURE(start_bound_responder());
  std::string out;
  auto ticked = at_500_per_second("register", responder_port_, 20);
  *std::find(ticked.begin(), ticked.end(), "500") = "100";
  ticked.insert(ticked.end(), {"--no-auth", "--users", "20", "--tick-us", "8000"});
  ASSERT_EQ(load(ticked, &out), 0) << out;
  expect_all_ok(out, 20);
  EXPECT_EQ(parse_loadgen_tsv(out).retransmissions, 0u) << out;
  std::istringstream columns(out);  // p50_us is column 8, send_s column 13
  std::string skipped;
  for (int column = 0; column < 7; ++column) columns >> skipped;
  double p50_us = 0, send_s = 0;
  columns >> p50_us >> skipped >> skipped >> skipped >> skipped >> send_s;
  EXPECT_GE(p50_us, 7500) << out;
  EXPECT_GE(send_s, 0.192) << out;
  EXPECT_LT(send_s, 0.230) << out;
  EXPECT_EQ(responder_->stop(), 0);
}

// --sockets 3 against homesipd: each socket's requests name its own port in Via and Contact, so
// every answer comes back to the socket that sent the request (a wrong Via would time out).
TEST_P(LoadgenLoopsTest, SocketsEachGetTheirOwnAnswersFromHomesipd) {
  start_registrar();
  auto arguments = at_500_per_second("register", server_->port(), 300);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "100", "--sockets", "3"});
  std::string out;
  ASSERT_EQ(load(arguments, &out), 0) << out;
  expect_all_ok(out, 300);
}

// --transport tcp with 8 connections: each request goes out on its connection (Via SIP/2.0/TCP,
// Contact ;transport=tcp) and homesipd (its loops each serving the connections the kernel gave
// them) answers on the same one, framed by Content-Length. A second run, on new connections,
// refreshes each binding: its Contact names --local-port + k, not the connection's new port (one
// binding per AOR allowed: a second binding would get 403).
TEST_P(LoadgenLoopsTest, RegisterOverTcpConnectionsNewThenRefresh) {
  start_registrar("    max_bindings_per_aor: 1\n");
  const std::string contact_ports = "40000";  // named in Contacts only: nothing binds them over TCP
  for (const std::string cseq : {"1", "2"}) {
    auto arguments = at_500_per_second("register", server_->port(), 200);
    arguments.insert(arguments.end(),
                     {"--no-auth", "--users", "200", "--transport", "tcp", "--sockets", "8", "--local-port",
                      contact_ports, "--call-id", "per-user", "--cseq", cseq});
    std::string out;
    ASSERT_EQ(load(arguments, &out), 0) << out;
    expect_all_ok(out, 200);
    EXPECT_EQ(parse_loadgen_tsv(out).retransmissions, 0u) << out;  // none over a reliable transport
  }
}

// homesipd's rate limit answers 503 with a Retry-After of 1 or 2 s to a source over 10/s (burst 20):
// 40 REGISTERs at once from 127.0.0.4 get 20 answers and 20 or so 503s; with --honour-retry-after
// each refused one is sent again after its Retry-After (so the run lasts a second at least) and all
// 40 end registered. Each 503 counted is followed by exactly one retry.
TEST_P(LoadgenLoopsTest, RegisterHonoursRetryAfterOf503) {
  server_ = std::make_unique<HomesipServer>(
      dir_, ServerOptions{"H1", "C1.D1",
                          "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                              "\n  - plugin: registrar\n    domains: [" + kDomain + "]\n",
                          "  rate_limit:\n    requests_per_second: 10\n    burst: 20\n    action: 503\n    "
                          "exempt: [127.0.0.1/32]\n  overload:\n    retry_after_min_s: 1\n    "
                          "retry_after_max_s: 2\n" +
                              loops_yaml()});
  server_->set_extra_arguments({"--set", "log.level=warn"});
  server_->start();
  auto arguments = at_500_per_second("register", server_->port(), 40);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "40", "--local", "127.0.0.4", "--pattern",
                                     "burst", "--burst", "40", "--honour-retry-after"});
  std::string out;
  ASSERT_EQ(load(arguments, &out), 0) << out;
  const LoadgenLine line = parse_loadgen_tsv(out);
  const RetryColumns retries = parse_retry_columns(out);
  EXPECT_EQ(line.ok, 40u) << out;
  EXPECT_EQ(line.failed, 0u) << out;
  EXPECT_EQ(line.timed_out, 0u) << out;
  EXPECT_GE(retries.busy_503, 19u) << out;
  EXPECT_EQ(retries.busy_retries, retries.busy_503) << out;
  EXPECT_GE(retries.elapsed_s, 1.0) << out;
  EXPECT_EQ(retries.redirects, 0u) << out;

  // Without the option a 503 is final (RFC 3261 21.5.4): the refused ones fail at once.
  arguments.erase(std::find(arguments.begin(), arguments.end(), "--honour-retry-after"));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the bucket fills again
  ASSERT_EQ(load(arguments, &out), 1) << out;
  const LoadgenLine plain = parse_loadgen_tsv(out);
  EXPECT_GE(plain.failed, 19u) << out;
  EXPECT_EQ(plain.ok + plain.failed, 40u) << out;
}

// A province, a community and a family (each a homesipd with the tree, registered upward by
// itself): REGISTERs for users of the family sent to the province follow its 302 to the community
// and the community's to the family, which binds them: 2 hops each.
TEST_P(LoadgenLoopsTest, RegisterFollowsRedirectsDownTheTree) {
  const auto tier = [&](const std::string& name, const std::string& domain, const std::string& top) {
    return std::make_unique<HomesipServer>(
        dir_, ServerOptions{
                  name, domain,
                  "  - plugin: location-sqlite\n    path: " + (dir_ / (name + domain + ".sqlite")).string() +
                      "\n" + tree_plugin_yaml(name, domain, top) + "  - plugin: registrar\n",
                  loops_yaml()});
  };
  auto province = tier("C1", "", "");
  const std::string top = "sip:127.0.0.1:" + std::to_string(province->port());
  auto community = tier("D1", "C1", top);
  auto family = tier("H1", "C1.D1", top);
  for (auto* server : {province.get(), community.get(), family.get()}) {
    server->set_extra_arguments({"--set", "log.level=warn"});
    server->start();
  }
  auto arguments = at_500_per_second("register", province->port(), 1);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "1", "--follow-redirects"});
  std::string out;
  // The family and the community register upward by themselves, in some order.
  ASSERT_TRUE(eventually([&] { return load(arguments, &out) == 0; })) << out;

  arguments = at_500_per_second("register", province->port(), 100);
  arguments.insert(arguments.end(), {"--no-auth", "--users", "50", "--follow-redirects", "--sockets", "2"});
  ASSERT_EQ(load(arguments, &out), 0) << out;
  const LoadgenLine line = parse_loadgen_tsv(out);
  const RetryColumns hops = parse_retry_columns(out);
  EXPECT_EQ(line.ok, 100u) << out;
  EXPECT_EQ(line.failed, 0u) << out;
  EXPECT_EQ(hops.redirects, 200u) << out;
  EXPECT_EQ(hops.max_hops, 2u) << out;
  EXPECT_EQ(hops.busy_503, 0u) << out;
}

}  // namespace
