// homesip-ua with a password and with TLS, against real homesipd servers on
// loopback; homesipctl pki's certificates checked with the openssl command.
//
// UaAuth: a family server C1.D1.H1 (location-sqlite, tree, auth-digest with
// realm C1.D1.H1, registrar), users added with `homesipctl user add`. Its
// top is an address nobody answers at: the family server redirects its own
// users' requests by itself.
// UaTls: a CA and a server certificate made by `homesipctl pki`, homesipd
// with a tls: listener on them.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "test_support.hpp"

using namespace homesip::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// homesip-ua and homesipctl are built into the same bin/ as homesipd.
std::string tool(const std::string& name) {
  return (fs::path(homesipd_path()).parent_path() / name).string();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// A file only its owner reads, as --password-file wants it (or `mode`).
std::string secret_file(const TempDir& dir, const std::string& name, const std::string& text,
                        mode_t mode = 0600) {
  const fs::path path = dir / name;
  write_file(path, text + "\n");
  ::chmod(path.c_str(), mode);
  return path.string();
}

int ua(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), tool("homesip-ua"));
  return run(args, out, 60s);
}

class UaAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / "h1.sqlite").string() + "\n" +
        tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(free_port())) +
        "  - plugin: auth-digest\n    secret_file: " + (dir_ / "nonce.secret").string() +
        "\n  - plugin: registrar\n";
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins, "  admin_socket: " + socket_ + "\n"});
    server_->start();
    add_user("U1@C1.D1.H1", "right-1");
    add_user("U2@C1.D1.H1", "right-2");
  }

  void add_user(const std::string& aor, const std::string& password) {
    const std::string file = secret_file(dir_, aor + ".password", password);
    std::string out;
    ASSERT_EQ(run({tool("homesipctl"), "-s", socket_, "user", "add", aor, "--password-file", file}, &out), 0)
        << out;
  }

  // The contacts the server holds for `aor` (homesipctl --json bindings).
  size_t bindings(const std::string& aor) {
    std::string out;
    if (run({tool("homesipctl"), "-s", socket_, "--json", "bindings", aor}, &out) != 0) return 999;
    const auto json = nlohmann::json::parse(out, nullptr, false);
    if (!json.is_object()) return 999;
    return json.contains(aor) ? json[aor].size() : 0;
  }

  std::string family() const { return "sip:127.0.0.1:" + std::to_string(server_->port()); }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(UaAuth, RegisterWithTheRightPasswordAnswersThe401AndBinds) {
  const std::string password = secret_file(dir_, "u1", "right-1");
  std::string out;
  ASSERT_EQ(
      ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", family(), "--password-file", password},
         &out),
      0)
      << out;
  EXPECT_TRUE(contains(out, "REGISTER sip:U1@C1.D1.H1 -> " + family() + ": 401 Unauthorized")) << out;
  // auth-digest offers SHA-256 first: homesip-ua answers that one (homesip::digest).
  EXPECT_TRUE(contains(out, "authenticating as U1 for C1.D1.H1 (SHA-256)\n")) << out;
  EXPECT_TRUE(contains(out, "REGISTER sip:U1@C1.D1.H1 -> " + family() + ": 200 OK")) << out;
  EXPECT_TRUE(contains(out, "registered sip:U1@C1.D1.H1 at " + family() + " after 0 redirect(s)")) << out;
  EXPECT_EQ(bindings("U1@C1.D1.H1"), 1u);
}

TEST_F(UaAuth, AWrongPasswordFailsOnceWithExit2AndBindsNothing) {
  const std::string password = secret_file(dir_, "u1", "wrong");
  std::string out;
  EXPECT_EQ(
      ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", family(), "--password-file", password},
         &out),
      2)
      << out;
  // One answer, one refusal: no loop.
  EXPECT_EQ(count_of(out, ": 401 Unauthorized"), 2) << out;
  EXPECT_EQ(count_of(out, "authenticating as U1"), 1) << out;
  EXPECT_TRUE(contains(out, "authentication failed: C1.D1.H1 refused the password of sip:U1@C1.D1.H1\n"))
      << out;
  EXPECT_EQ(bindings("U1@C1.D1.H1"), 0u);
}

TEST_F(UaAuth, AnotherUsersPasswordWithUserIsRefused) {
  // --user names the identity: U2's password is right for U2, but U1's binding is U1's to prove.
  const std::string password = secret_file(dir_, "u2", "right-2");
  std::string out;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", family(), "--user", "U2@C1.D1.H1",
                "--password-file", password},
               &out),
            2)
      << out;
  EXPECT_TRUE(contains(out, "authenticating as U2 for C1.D1.H1")) << out;
  EXPECT_EQ(bindings("U1@C1.D1.H1"), 0u);
}

TEST_F(UaAuth, WithoutAPasswordTheChallengeIsAFailure) {
  std::string out;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", family()}, &out), 2) << out;
  EXPECT_TRUE(contains(out, "authentication needed (SHA-256 MD5): give --user and --password-file\n")) << out;
  EXPECT_EQ(bindings("U1@C1.D1.H1"), 0u);
}

TEST_F(UaAuth, APasswordFileOthersCanReadIsRefusedLikeSsh) {
  const std::string password = secret_file(dir_, "u1", "right-1", 0644);
  std::string out;
  EXPECT_EQ(
      ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", family(), "--password-file", password},
         &out),
      1)
      << out;
  EXPECT_TRUE(
      contains(out, "--password-file " + password + " is open to others (mode 0644): chmod 600 " + password))
      << out;
}

TEST_F(UaAuth, MessageAndCallFromAUserOfTheRealmAnswerTheChallenge) {
  // U2 answers (registered with its password); U1's MESSAGE and INVITE claim
  // the realm in From: the family server challenges them before redirecting.
  const fs::path log = dir_ / "u2.log";
  Process answerer({tool("homesip-ua"), "answer", "--aor", "U2@C1.D1.H1", "--server", family(),
                    "--password-file", secret_file(dir_, "u2", "right-2"), "--calls", "1", "--timeout", "40"},
                   log);
  ASSERT_TRUE(eventually([&] { return contains(read_file(log), "waiting for calls"); }, 10s))
      << read_file(log);
  const std::string password = secret_file(dir_, "u1", "right-1");
  std::string out;
  ASSERT_EQ(ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", family(),
                "--password-file", password, "--text", "hello"},
               &out),
            0)
      << out << read_file(server_->log());
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + family() + ": 401 Unauthorized")) << out;
  EXPECT_TRUE(contains(out, "authenticating as U1 for C1.D1.H1 (SHA-256)")) << out;
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + family() + ": 302 Moved Temporarily")) << out;
  EXPECT_TRUE(contains(out, "reply: received: hello\n")) << out;

  ASSERT_EQ(ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", family(),
                "--password-file", password, "--duration", "0.2"},
               &out),
            0)
      << out << read_file(log);
  EXPECT_TRUE(contains(out, "INVITE sip:U2@C1.D1.H1 -> " + family() + ": 401 Unauthorized")) << out;
  EXPECT_TRUE(contains(out, "INVITE sip:U2@C1.D1.H1 -> " + family() + ": 302 Moved Temporarily")) << out;
  EXPECT_TRUE(contains(out, "BYE sip:U2@C1.D1.H1")) << out;
  // Its un-REGISTER repeats the REGISTER's credentials: the server challenges
  // the replay, and the answer to that challenge removes the binding.
  EXPECT_EQ(answerer.wait(20s), 0) << read_file(log);
  EXPECT_TRUE(contains(read_file(log), "unregistered sip:U2@C1.D1.H1 at " + family())) << read_file(log);
  EXPECT_EQ(bindings("U2@C1.D1.H1"), 0u);
}

// homesip-ua message, with U1's password, to SIPp playing `scenario` (a
// challenge, then 200 for a right answer); returns the ua's output.
std::string message_to_challenging_sipp(const std::string& scenario, const std::string& challenge_line) {
  TempDir dir;
  const uint16_t port = free_port();
  const fs::path log = dir / "sipp.log";
  Process sipp({"sipp", "-sf", scenario_dir() + "/" + scenario, "-i", "127.0.0.1", "-p", std::to_string(port),
                "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"},
               log);
  const std::string server = "sip:127.0.0.1:" + std::to_string(port);
  const std::string password = secret_file(dir, "u1", "right-1");
  std::string out;
  // SIPp needs a moment to listen: until then nua answers 503 at once (ICMP).
  eventually(
      [&] {
        ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", server, "--password-file",
            password, "--text", "hi"},
           &out);
        return contains(out, challenge_line);
      },
      10s);
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + server + ": " + challenge_line)) << out;
  EXPECT_TRUE(contains(out, "authenticating as U1 for C1.D1.H1 (MD5)\n")) << out;
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + server + ": 200 OK")) << out;
  EXPECT_TRUE(contains(out, "reply: credentials verified")) << out;
  EXPECT_EQ(sipp.wait(10s), 0) << read_file(log);
  return out;
}

TEST(UaChallengedBySipp, A401IsAnsweredWithADigestSippVerifies) {
  // An MD5 digest checked by another implementation than homesip::digest.
  message_to_challenging_sipp("ua_www_auth_uas.xml", "401 Unauthorized");
}

TEST(UaChallengedBySipp, A407IsAnsweredWithProxyAuthorizationOnTheSameCallId) {
  message_to_challenging_sipp("ua_proxy_auth_uas.xml", "407 Proxy Authentication Required");
}

// ---------------------------------------------------------------------------

class UaTls : public ::testing::Test {
 protected:
  void SetUp() override {
    pki({"init", (dir_ / "ca").string()});
    pki({"issue", (dir_ / "ca").string(), "H1@C1.D1", "--ip", "127.0.0.1", "--out", (dir_ / "h1").string()});
    pki({"init", (dir_ / "other-ca").string()});
  }

  void pki(std::vector<std::string> args) {
    args.insert(args.begin(), {tool("homesipctl"), "pki"});
    std::string out;
    ASSERT_EQ(run(args, &out), 0) << out;
  }

  // homesipd with udp: and tls: listeners on the certificate of H1, the
  // family server of C1.D1.H1 (its top is an address nobody answers at).
  void start_server(const std::string& more_plugins = "") {
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / "h1.sqlite").string() + "\n" +
        tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(free_port())) +
        "  - plugin: registrar\n" + more_plugins;
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins,
                            "  tls_certificates: " + (dir_ / "h1").string() +
                                "\n  admin_socket: " + (dir_ / "h1.sock").string() + "\n"});
    tls_port_ = free_port();
    server_->set_extra_arguments({"--set", "server.listen=[udp:127.0.0.1:" + std::to_string(server_->port()) +
                                               ", tls:127.0.0.1:" + std::to_string(tls_port_) + "]"});
    server_->start();
  }

  std::string sips() const { return "sips:127.0.0.1:" + std::to_string(tls_port_); }

  TempDir dir_;
  std::unique_ptr<HomesipServer> server_;
  uint16_t tls_port_ = 0;
};

TEST_F(UaTls, PkiMakesAPrivateCaAndACertificateOpensslAccepts) {
  const fs::path ca = dir_ / "ca", h1 = dir_ / "h1";
  EXPECT_EQ(fs::status(ca / "ca.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(h1 / "agent.pem").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(read_file(h1 / "cafile.pem"), read_file(ca / "cafile.pem"));
  std::string out;
  EXPECT_EQ(run({"openssl", "verify", "-CAfile", (ca / "cafile.pem").string(), "-purpose", "sslserver",
                 "-verify_ip", "127.0.0.1", (h1 / "agent.pem").string()},
                &out),
            0)
      << out;
  EXPECT_EQ(run({"openssl", "verify", "-CAfile", (dir_ / "other-ca" / "cafile.pem").string(),
                 (h1 / "agent.pem").string()},
                &out),
            2)
      << out;
  ASSERT_EQ(run({"openssl", "x509", "-in", (h1 / "agent.pem").string(), "-noout", "-ext", "subjectAltName",
                 "-enddate"},
                &out),
            0)
      << out;
  EXPECT_TRUE(contains(out, "URI:sip:H1@C1.D1, IP Address:127.0.0.1, URI:sip:127.0.0.1")) << out;
  ASSERT_EQ(run({"openssl", "x509", "-in", (ca / "cafile.pem").string(), "-noout", "-checkend",
                 std::to_string(3649LL * 24 * 3600)},
                &out),
            0)
      << "the CA lasts 10 years: " << out;
  EXPECT_EQ(run({"openssl", "x509", "-in", (h1 / "agent.pem").string(), "-noout", "-checkend",
                 std::to_string(731LL * 24 * 3600)},
                &out),
            1)
      << "the server certificate lasts 2 years, not more: " << out;
  // A second init keeps the CA.
  EXPECT_EQ(run({tool("homesipctl"), "pki", "init", ca.string()}, &out), 1) << out;
  EXPECT_TRUE(contains(out, "a CA exists in " + ca.string() + " already")) << out;
}

TEST_F(UaTls, OpensslClientVerifiesTheServerByItsAddress) {
  start_server();
  std::string out;
  EXPECT_EQ(run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(tls_port_),
                 "-verify_return_error", "-CAfile", (dir_ / "ca" / "cafile.pem").string(), "-verify_ip",
                 "127.0.0.1", "-brief"},
                &out, 10s),
            0)
      << out;
  EXPECT_TRUE(contains(out, "Verification: OK")) << out;
}

TEST_F(UaTls, RegisterOverTlsWithTheRightCa) {
  start_server();
  std::string out;
  ASSERT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", sips(), "--ca",
                (dir_ / "ca" / "cafile.pem").string()},
               &out),
            0)
      << out << read_file(server_->log());
  EXPECT_TRUE(contains(out, "REGISTER sip:U1@C1.D1.H1 -> " + sips() + ": 200 OK")) << out;
  EXPECT_TRUE(contains(read_file(server_->log()), "tls:127.0.0.1:")) << read_file(server_->log());
  // Registered over TLS, reached on its UDP --listen (the default udp:127.0.0.1:0): the binding
  // names that, not the TLS connection, where the ua takes no calls.
  ASSERT_EQ(
      run({tool("homesipctl"), "-s", (dir_ / "h1.sock").string(), "--json", "bindings", "U1@C1.D1.H1"}, &out),
      0)
      << out;
  const auto json = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(json.is_object() && json.contains("U1@C1.D1.H1") && json["U1@C1.D1.H1"].size() == 1) << out;
  const std::string contact = json["U1@C1.D1.H1"][0].value("contact", "");
  EXPECT_TRUE(std::regex_match(contact, std::regex(R"(sip:U1@127\.0\.0\.1:[1-9][0-9]*)"))) << out;
}

TEST_F(UaTls, AnotherCaIsRefusedAtOnceWithTheReason) {
  start_server();
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", sips(), "--ca",
                (dir_ / "other-ca" / "cafile.pem").string()},
               &out),
            2)
      << out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "not nua's 32 s timeout";
  EXPECT_TRUE(
      contains(out, "homesip-ua: TLS refused: the certificate of 127.0.0.1:" + std::to_string(tls_port_) +
                        " is not trusted with --ca " + (dir_ / "other-ca" / "cafile.pem").string()))
      << out;
  EXPECT_FALSE(contains(out, "200 OK")) << out;
}

TEST_F(UaTls, ACertificateForAnotherAddressIsRefused) {
  // Same CA, but issued for 127.0.0.2: the server at 127.0.0.1 is not the one named.
  pki({"issue", (dir_ / "ca").string(), "H1@C1.D1", "--ip", "127.0.0.2", "--out", (dir_ / "h1").string()});
  start_server();
  std::string out;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", sips(), "--ca",
                (dir_ / "ca" / "cafile.pem").string()},
               &out),
            2)
      << out;
  EXPECT_TRUE(contains(out, "does not name 127.0.0.1 (names: sip:H1@C1.D1, sip:127.0.0.2)")) << out;
}

TEST_F(UaTls, AUaRegisteredOverTlsIsReachedOnItsConnection) {
  // U2 registers over TLS with a sips: Contact (its own TLS listener, its own
  // certificate). H1 reaches a terminal registered over TLS on the connection
  // it registered over (its flow, docs/phones.md "Over TLS"), so U1's MESSAGE
  // and call go through H1 and arrive there: no 302 to U2's listener.
  pki({"issue", (dir_ / "ca").string(), "U2@C1.D1.H1", "--user", "--ip", "127.0.0.1", "--out",
       (dir_ / "u2").string()});
  start_server();
  const std::string ca = (dir_ / "ca" / "cafile.pem").string();
  const std::string u2 = "sips:U2@127.0.0.1:" + std::to_string(free_port());
  const fs::path log = dir_ / "u2.log";
  Process answerer({tool("homesip-ua"), "answer", "--aor", "U2@C1.D1.H1", "--server", sips(), "--ca", ca,
                    "--listen", "tls:" + u2.substr(u2.find('@') + 1), "--certificates",
                    (dir_ / "u2").string(), "--calls", "1", "--timeout", "40"},
                   log);
  ASSERT_TRUE(eventually([&] { return contains(read_file(log), "waiting for calls"); }, 10s))
      << read_file(log);
  std::string out;
  ASSERT_EQ(ua({"message", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", sips(), "--ca", ca,
                "--text", "over tls"},
               &out),
            0)
      << out << read_file(log);
  EXPECT_TRUE(contains(out, "MESSAGE sip:U2@C1.D1.H1 -> " + sips() + ": 200 OK")) << out;
  // ": 302 " is how homesip-ua prints a redirect; a bare "302" would also
  // match a port such as 43025 in "server saw us at".
  EXPECT_FALSE(contains(out, ": 302 ")) << out;
  EXPECT_TRUE(contains(out, "reply: received: over tls\n")) << out;
  ASSERT_EQ(ua({"call", "--aor", "U1@C1.D1.H1", "--to", "U2@C1.D1.H1", "--server", sips(), "--ca", ca,
                "--duration", "0.2"},
               &out),
            0)
      << out << read_file(log);
  EXPECT_TRUE(contains(out, "INVITE sip:U2@C1.D1.H1 -> " + sips() + ": 200 OK")) << out;
  EXPECT_TRUE(contains(out, "BYE sip:U2@C1.D1.H1 -> " + sips() + ": 200 OK")) << out;
  EXPECT_EQ(answerer.wait(20s), 0) << read_file(log);
  // The caller's probe handshakes closed cleanly: nothing for U2 to complain about.
  EXPECT_FALSE(contains(read_file(log), "reset by peer")) << read_file(log);
}

// watch over TLS: the SUBSCRIBE goes out on a TLS connection, which takes no
// requests; its Contact must name the ua's --listen address, or every NOTIFY
// after the first 200 fails and the hub drops the watcher.
TEST_F(UaTls, WatchOverTlsGetsTheNotifyOfAChange) {
  start_server(
      "  - plugin: appliance-hub\n"
      "  - plugin: appliances-virtual\n"
      "    entities:\n"
      "      - \"light.kitchen name='Kitchen light'\"\n");
  const std::string ca = (dir_ / "ca" / "cafile.pem").string();
  const fs::path log = dir_ / "watch.log";
  Process watcher({tool("homesip-ua"), "watch", "light.kitchen@C1.D1.H1", "--aor", "U1@C1.D1.H1", "--server",
                   sips(), "--ca", ca},
                  log);
  ASSERT_TRUE(eventually([&] { return contains(read_file(log), "\nlight.kitchen off "); }, 10s))
      << read_file(log) << read_file(server_->log());
  std::string out;
  ASSERT_EQ(ua({"control", "light.kitchen@C1.D1.H1", "turn_on", "brightness=40", "--aor", "U2@C1.D1.H1",
                "--server", sips(), "--ca", ca},
               &out),
            0)
      << out << read_file(server_->log());
  EXPECT_TRUE(
      eventually([&] { return contains(read_file(log), "\nlight.kitchen on {\"brightness\":40}"); }, 5s))
      << read_file(log) << read_file(server_->log());
  EXPECT_FALSE(contains(read_file(server_->log()), "Input/output error")) << read_file(server_->log());
  watcher.signal(SIGTERM);
  EXPECT_EQ(watcher.wait(10s), 0) << read_file(log);
}

TEST_F(UaTls, ASipsServerWithoutCaIsAUsageError) {
  std::string out;
  EXPECT_EQ(ua({"register", "--once", "--aor", "U1@C1.D1.H1", "--server", "sips:127.0.0.1:5061"}, &out), 1)
      << out;
  EXPECT_TRUE(contains(out, "a sips: server needs --ca FILE")) << out;
}

}  // namespace
