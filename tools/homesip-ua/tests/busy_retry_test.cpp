// homesip-ua against SIPp playing an overloaded server (tests/scenarios/busy_*_uas.xml): a 503 with
// Retry-After is sent again after it -- no sooner, timed here -- to the same server, and the
// command then succeeds, also when the request had been authenticated (the retry answers a fresh
// challenge); five retries at most, and a Retry-After past --max-retry-after is final at once. SIPp
// takes each attempt as a call of its own (nua gives a REGISTER after a failed one a new
// Call-ID), answering call 1 with the 503.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// True when something (SIPp) is bound to UDP 127.0.0.1:port.
bool udp_port_taken(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool taken = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0;
  ::close(fd);
  return taken;
}

class UaBusyServer : public ::testing::Test {
 protected:
  // SIPp as the server of `scenario` for `calls` calls, listening before this returns.
  void start_sipp(const std::string& scenario, int calls) {
    sipp_ = std::make_unique<Process>(
        std::vector<std::string>{"sipp", "-sf", std::string(HOMESIP_UA_SCENARIO_DIR) + "/" + scenario, "-i",
                                 "127.0.0.1", "-p", std::to_string(port_), "-m", std::to_string(calls),
                                 "-nostdin", "-timeout", "30s", "-timeout_error"},
        log_);
    ASSERT_TRUE(eventually([&] { return udp_port_taken(port_); }, 10s));
  }
  std::string server() const { return "sip:127.0.0.1:" + std::to_string(port_); }

  // The password the authenticating scenarios check (verifyauth: U1, secret), mode 0600.
  std::string password_file() {
    const auto path = dir_ / "password";
    write_file(path, "secret\n");
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
    return path.string();
  }

  // Runs homesip-ua; `seconds` is how long it took.
  int ua(std::vector<std::string> args, std::string* out, double* seconds) {
    args.insert(args.begin(), HOMESIP_TEST_UA);
    const auto start = std::chrono::steady_clock::now();
    const int code = run(args, out, 60s);
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return code;
  }

  TempDir dir_;
  uint16_t port_ = free_port();
  std::filesystem::path log_ = dir_ / "sipp.log";
  std::unique_ptr<Process> sipp_;
};

TEST_F(UaBusyServer, RegisterWaitsForRetryAfterThenRegisters) {
  start_sipp("busy_register_uas.xml", 2);
  std::string out;
  double seconds = 0;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", server()}, &out, &seconds), 0)
      << out;
  EXPECT_TRUE(contains(out, "REGISTER sip:U1@C1.D1.H1 -> " + server() + ": 503 Service Unavailable")) << out;
  EXPECT_TRUE(contains(out, "server busy: waiting 2.")) << out;
  EXPECT_TRUE(contains(out, "(Retry-After: 2), then retry 1 of 5")) << out;
  EXPECT_TRUE(contains(out, "registered sip:U1@C1.D1.H1 at " + server())) << out;
  EXPECT_GE(seconds, 2.0) << out;
  EXPECT_LT(seconds, 5.0) << out;  // 2 s + at most 0.2 s of jitter, not a timeout
  // SIPp's two calls completed: the 503 and the 200.
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

TEST_F(UaBusyServer, MessageWaitsForRetryAfterThenIsAnswered) {
  start_sipp("busy_message_uas.xml", 2);
  std::string out;
  double seconds = 0;
  ASSERT_EQ(
      ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", server(), "--text", "hi"},
         &out, &seconds),
      0)
      << out;
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + server() + ": 503 Service Unavailable")) << out;
  EXPECT_TRUE(contains(out, "(Retry-After: 1), then retry 1 of 5")) << out;
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + server() + ": 200 OK")) << out;
  EXPECT_GE(seconds, 1.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// Six 503s with Retry-After: 0: the first REGISTER and 5 retries, then a failure (exit 2).
TEST_F(UaBusyServer, RegisterGivesUpAfterFiveRetries) {
  start_sipp("busy_forever_uas.xml", 6);
  std::string out;
  double seconds = 0;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", server()}, &out, &seconds), 2)
      << out;
  EXPECT_EQ(count_of(out, ": 503 Service Unavailable"), 6) << out;
  EXPECT_TRUE(contains(out, "then retry 5 of 5")) << out;
  EXPECT_TRUE(contains(out, "not waiting again: 5 retries after 503 so far (at most 5)")) << out;
  EXPECT_FALSE(contains(out, "registered ")) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// Retry-After: 400 is past --max-retry-after (10 s by default): the 503 is final at once.
TEST_F(UaBusyServer, RetryAfterPastTheBoundIsFinal) {
  start_sipp("busy_long_uas.xml", 1);
  std::string out;
  double seconds = 0;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", server()}, &out, &seconds), 2)
      << out;
  EXPECT_EQ(count_of(out, ": 503 Service Unavailable"), 1) << out;
  EXPECT_TRUE(contains(out,
                       "not waiting: Service Unavailable for 400 s (Retry-After: 400), more than "
                       "--max-retry-after 10"))
      << out;
  EXPECT_LT(seconds, 5.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// The hub's answer for a device that is offline, 503 with Retry-After: 30: `control` is
// final at once (exit 3, unreachable) with the server's reason, Retry-After and JSON error.
TEST_F(UaBusyServer, ControlOfAnOfflineDeviceIsFinalAtOnce) {
  start_sipp("busy_offline_uas.xml", 1);
  std::string out;
  double seconds = 0;
  EXPECT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "--server", server()}, &out, &seconds), 3)
      << out;
  EXPECT_EQ(count_of(out, ": 503 Service Unavailable"), 1) << out;
  EXPECT_TRUE(contains(out,
                       "not waiting: Service Unavailable for 30 s (Retry-After: 30), more than "
                       "--max-retry-after 10"))
      << out;
  EXPECT_TRUE(contains(out, "\n{\"error\":\"unavailable\"}\n")) << out;
  EXPECT_FALSE(contains(out, "server busy")) << out;
  EXPECT_LT(seconds, 5.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// --max-retry-after lowers the bound: 0 makes even Retry-After: 1 final.
TEST_F(UaBusyServer, MaxRetryAfterZeroMakesEvery503Final) {
  start_sipp("busy_message_uas.xml", 1);
  std::string out;
  double seconds = 0;
  EXPECT_EQ(ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", server(), "--text",
                "hi", "--max-retry-after", "0"},
               &out, &seconds),
            2)
      << out;
  EXPECT_EQ(count_of(out, ": 503 Service Unavailable"), 1) << out;
  EXPECT_TRUE(contains(out, "(Retry-After: 1), more than --max-retry-after 0")) << out;
  EXPECT_LT(seconds, 1.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// An authenticated MESSAGE (401, then our answer) gets 503 Retry-After: 1. The retry must not
// replay the old answer (its nonce and nc are spent: a replay) but answer the server's fresh
// challenge with the same password; SIPp checks each answer (verifyauth) and says 403 to a bad one.
TEST_F(UaBusyServer, AuthenticatedMessageIsAuthenticatedAgainAfterRetryAfter) {
  start_sipp("busy_authenticated_uas.xml", 2);
  std::string out;
  double seconds = 0;
  ASSERT_EQ(ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", server(), "--text",
                "hi", "--password-file", password_file()},
               &out, &seconds),
            0)
      << out;
  const std::string sent = "MESSAGE sip:U2@C1.D1.H1 -> " + server() + ": ";
  EXPECT_EQ(count_of(out, sent + "401 Unauthorized\nauthenticating as U1 for C1.D1.H1 (MD5)\n"), 2) << out;
  EXPECT_TRUE(contains(out, sent + "503 Service Unavailable\nserver busy: waiting 1.")) << out;
  EXPECT_TRUE(contains(out, sent + "200 OK")) << out;
  EXPECT_FALSE(contains(out, "refused the password")) << out;
  EXPECT_FALSE(contains(out, "403")) << out;
  EXPECT_GE(seconds, 1.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

// The same for REGISTER, which nua sends on the same handle.
TEST_F(UaBusyServer, AuthenticatedRegisterIsAuthenticatedAgainAfterRetryAfter) {
  start_sipp("busy_authenticated_register_uas.xml", 2);
  std::string out;
  double seconds = 0;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", server(), "--password-file",
                password_file()},
               &out, &seconds),
            0)
      << out;
  const std::string sent = "REGISTER sip:U1@C1.D1.H1 -> " + server() + ": ";
  EXPECT_EQ(count_of(out, sent + "401 Unauthorized\nauthenticating as U1 for C1.D1.H1 (MD5)\n"), 2) << out;
  EXPECT_TRUE(contains(out, sent + "503 Service Unavailable\nserver busy: waiting 1.")) << out;
  EXPECT_TRUE(contains(out, "registered sip:U1@C1.D1.H1 at " + server())) << out;
  EXPECT_FALSE(contains(out, "refused the password")) << out;
  EXPECT_GE(seconds, 1.0) << out;
  EXPECT_EQ(sipp_->wait(10s), 0) << read_file(log_);
}

}  // namespace
