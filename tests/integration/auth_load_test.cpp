// Authenticated REGISTERs at load against a family server with auth-digest: SIPp's
// [authentication] for one user (MD5: SIPp 3.6.1 does no SHA-256), then bench/loadgen's many users,
// each with its own password. Every REGISTER must end in its 200, and the server's auth_ok_total
// must count exactly one success per REGISTER.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

constexpr const char* kDomain = "C1.D1.H1";

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }
std::string loadgen() { return HOMESIP_TEST_LOADGEN; }

class AuthLoadTest : public ::testing::Test {
 protected:
  // A family server: location-sqlite (the user store), auth-digest offering `algorithms`, registrar.
  void start(const std::string& algorithms) {
    socket_ = (dir_ / "h1.sock").string();
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                                "\n  - plugin: auth-digest\n    realm: " + kDomain + "\n    algorithms: " +
                                algorithms + "\n    secret_file: " + (dir_ / "nonce.secret").string() +
                                "\n  - plugin: registrar\n    domains: [" + kDomain + "]\n",
                            "  admin_socket: " + socket_ + "\n  udp_buffer_bytes: 4194304\n"});
    // Debug logging of thousands of requests would measure the log, not the server.
    server_->set_extra_arguments({"--set", "log.level=warn"});
    server_->start();
  }
  int ctl(const std::vector<std::string>& arguments, std::string* output) {
    std::vector<std::string> argv{homesipctl(), "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(30));
  }
  nlohmann::json metrics() {
    std::string out;
    EXPECT_EQ(ctl({"--json", "stats"}, &out), 0) << out;
    return nlohmann::json::parse(out, nullptr, false)["metrics"];
  }
  std::string password_file(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    write_file(path, text);
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path.string();
  }
  int load(const std::vector<std::string>& arguments, std::string* output,
           std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::vector<std::string> argv{loadgen()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, timeout);
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(AuthLoadTest, SippAuthenticatesEveryRegisterAt500PerSecond) {
  start("[MD5]");
  std::string out;
  ASSERT_EQ(ctl({"user", "add", std::string("U1@") + kDomain, "--password-file",
                 password_file("u1.pw", "sipp at load\n")},
                &out),
            0)
      << out;
  constexpr int kCalls = 3000;
  SippRun sipp_run{"reg_auth.xml", server_->port()};
  sipp_run.calls = kCalls;
  sipp_run.rate = 500;
  sipp_run.keys = {{"user", "U1"}, {"domain", kDomain}};
  // SIPp's digest uri is "sip:" + -auth_uri, by default the server's address, which is not the
  // Request-URI: auth-digest answers that 400 Digest URI Mismatch.
  sipp_run.extra = {"-au", "U1", "-ap", "sipp at load", "-auth_uri", kDomain};
  ASSERT_EQ(sipp(sipp_run, &out), 0) << out;
  const std::regex successful(R"(Successful call\s*\|\s*\d+\s*\|\s*(\d+))"),
      failed(R"(Failed call\s*\|\s*\d+\s*\|\s*(\d+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, successful)) << out;
  EXPECT_EQ(std::stoi(m[1]), kCalls) << out;
  ASSERT_TRUE(std::regex_search(out, m, failed)) << out;
  EXPECT_EQ(std::stoi(m[1]), 0) << out;

  const auto counters = metrics();
  EXPECT_EQ(counters["homesip_auth_digest_auth_ok_total"], kCalls) << counters;
  EXPECT_EQ(counters["homesip_auth_digest_auth_failed_total"], 0) << counters;
}

// SIPp 3.6.1 cannot answer a SHA-256 challenge: it stops (exit 255) rather than send credentials.
TEST_F(AuthLoadTest, SippCannotAnswerSha256) {
  start("[SHA-256]");
  std::string out;
  ASSERT_EQ(
      ctl({"user", "add", std::string("U1@") + kDomain, "--password-file", password_file("u1.pw", "pw\n")},
          &out),
      0)
      << out;
  SippRun sipp_run{"reg_auth.xml", server_->port()};
  sipp_run.keys = {{"user", "U1"}, {"domain", kDomain}};
  sipp_run.extra = {"-au", "U1", "-ap", "pw", "-auth_uri", kDomain};
  EXPECT_NE(sipp(sipp_run, &out), 0) << out;
  EXPECT_NE(out.find("authentication must use MD5 or AKAv1-MD5"), std::string::npos) << out;
  EXPECT_EQ(metrics()["homesip_auth_digest_auth_ok_total"], 0);
}

// bench/loadgen: 400 users put with their own passwords, 800 REGISTERs (each user twice) at
// 400/s answering SHA-256, then MD5, from one local port; every one 200, every user bound once.
TEST_F(AuthLoadTest, LoadgenRegistersManyUsersEachWithItsOwnPassword) {
  start("[SHA-256, MD5]");
  const std::vector<std::string> users{"--domain", kDomain,   "--prefix", "u",      "--first",
                                       "1",        "--users", "400",      "--seed", "auth-load-test"};
  std::string out;
  std::vector<std::string> put{"users", "--admin-socket", socket_};
  put.insert(put.end(), users.begin(), users.end());
  ASSERT_EQ(load(put, &out), 0) << out;
  EXPECT_EQ(out, "400 users put into homesipd\n");

  // The same Contact in both runs: the second refreshes the first one's bindings.
  const std::string local_port = std::to_string(free_port());
  uint64_t challenged_again = 0;
  for (const std::string algorithm : {"SHA-256", "MD5"}) {
    std::vector<std::string> reg{"register",     "--server", "127.0.0.1:" + std::to_string(server_->port()),
                                 "--local-port", local_port, "--requests",
                                 "800",          "--rate",   "400",
                                 "--algorithm",  algorithm,  "--max-seconds",
                                 "30",           "--tsv"};
    reg.insert(reg.end(), users.begin(), users.end());
    ASSERT_EQ(load(reg, &out), 0) << algorithm << ": " << out;
    const LoadgenLine line = parse_loadgen_tsv(out);
    EXPECT_EQ(line.requests, 800u) << out;
    EXPECT_EQ(line.ok, 800u) << out;
    EXPECT_EQ(line.failed, 0u) << out;
    EXPECT_EQ(line.timed_out, 0u) << out;
    challenged_again += line.challenges_again;
  }
  // One success per REGISTER. The core is stateless: when a slow moment makes the loadgen
  // retransmit its credentials, the copy is a replayed nonce count, challenged again (not a
  // failure of the REGISTER) and answered with fresh credentials, which succeed too.
  const auto counters = metrics();
  EXPECT_EQ(counters["homesip_auth_digest_auth_ok_total"], 1600 + challenged_again) << counters;
  ASSERT_EQ(ctl({"--json", "bindings", kDomain}, &out), 0) << out;
  const auto bindings = nlohmann::json::parse(out, nullptr, false);
  EXPECT_EQ(bindings.size(), 400u);
  EXPECT_EQ(bindings["u1@C1.D1.H1"].size(), 1u) << bindings["u1@C1.D1.H1"];
  EXPECT_EQ(bindings["u400@C1.D1.H1"].size(), 1u) << bindings["u400@C1.D1.H1"];
}

// Passwords from another seed are wrong: each REGISTER is challenged three times and fails with
// the last 401; nothing is bound, nothing counted as authenticated.
TEST_F(AuthLoadTest, LoadgenWithWrongPasswordsGetsNoBinding) {
  start("[SHA-256, MD5]");
  std::string out;
  ASSERT_EQ(load({"users", "--admin-socket", socket_, "--domain", kDomain, "--users", "2", "--seed", "right"},
                 &out),
            0)
      << out;
  ASSERT_EQ(load({"register", "--server", "127.0.0.1:" + std::to_string(server_->port()), "--domain", kDomain,
                  "--users", "2", "--seed", "wrong", "--requests", "2", "--rate", "10", "--tsv"},
                 &out),
            1)
      << out;
  const LoadgenLine line = parse_loadgen_tsv(out);
  EXPECT_EQ(line.ok, 0u) << out;
  EXPECT_EQ(line.failed, 2u) << out;
  const auto counters = metrics();
  EXPECT_EQ(counters["homesip_auth_digest_auth_ok_total"], 0) << counters;
  EXPECT_EQ(counters["homesip_auth_digest_auth_failed_total"], 6) << counters;  // 3 tries x 2
  ASSERT_EQ(ctl({"--json", "bindings", kDomain}, &out), 0) << out;
  EXPECT_TRUE(nlohmann::json::parse(out, nullptr, false).empty()) << out;
}

}  // namespace
