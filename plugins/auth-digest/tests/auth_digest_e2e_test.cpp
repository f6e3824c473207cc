// auth-digest end to end: a family server C1.D1.H1 (location-sqlite,
// auth-digest with realm C1.D1.H1, registrar) on loopback. Users are put with
// the user-put command over the admin socket, as homesipctl does; sipsak
// registers with a password (its build does MD5 only, so this server
// challenges MD5 first); raw UDP requests answered by the digest library's
// client side check SHA-256 and what an attacker tries.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "homesip/digest/digest.hpp"
#include "test_support.hpp"

using namespace homesip::test;
namespace digest = homesip::digest;

namespace {

constexpr const char* kRealm = "C1.D1.H1";

// One {"command": ..., "args": ...} line to the admin socket; the answer line.
std::string admin(const std::string& socket_path, const std::string& request) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  const std::string line = request + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return "";
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string answer;
  char buffer[4096];
  while (answer.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\"" : "\"") + items[i] + "\"";
  return out + "]";
}

// The value of the first `name` header line containing `needle`, "" when none.
std::string header_with(const std::string& response, const std::string& name,
                        const std::string& needle = "") {
  size_t pos = 0;
  const std::string prefix = "\r\n" + name + ": ";
  while ((pos = response.find(prefix, pos)) != std::string::npos) {
    const size_t start = pos + prefix.size();
    const size_t end = response.find("\r\n", start);
    const std::string value = response.substr(start, end - start);
    if (value.find(needle) != std::string::npos) return value;
    pos = end;
  }
  return "";
}

// A REGISTER of `user` to C1.D1.H1 from 127.0.0.1, with `extra` header lines.
std::string raw_register(
    const std::string& user, const std::string& call_id, int cseq, const std::string& extra,
    const std::string& contact = "Contact: <sip:attacker@127.0.0.1:6666>\nExpires: 600\n") {
  return "REGISTER sip:C1.D1.H1 SIP/2.0\n"
         "Via: SIP/2.0/UDP 127.0.0.1:$PORT$;branch=z9hG4bK-" +
         call_id + "-" + std::to_string(cseq) +
         ";rport\n"
         "Max-Forwards: 70\n"
         "From: <sip:" +
         user + "@C1.D1.H1>;tag=" + call_id +
         "\n"
         "To: <sip:" +
         user + "@C1.D1.H1>\nCall-ID: " + call_id + "@127.0.0.1\nCSeq: " + std::to_string(cseq) +
         " REGISTER\n" + contact + extra + "Content-Length: 0\n\n";
}

class AuthDigestE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
        "\n"
        "  - plugin: auth-digest\n"
        "    realm: C1.D1.H1\n"
        "    algorithms: [MD5, SHA-256]\n"
        "    secret_file: " +
        (dir_ / "nonce.secret").string() +
        "\n"
        "  - plugin: registrar\n"
        "    domains: [C1.D1.H1]\n";
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins, "  admin_socket: " + socket_ + "\n"});
    server_->start();
  }

  // user-put over the admin socket with both HA1 values, as `homesipctl user add` sends it.
  void put_user(const std::string& user, const std::string& password, const std::string& role = "member") {
    const std::vector<std::string> argv = {
        user + "@" + kRealm, role, "MD5:" + digest::ha1(digest::Algorithm::kMd5, user, kRealm, password),
        "SHA-256:" + digest::ha1(digest::Algorithm::kSha256, user, kRealm, password)};
    const std::string answer =
        admin(socket_, "{\"command\":\"auth-digest.user-put\",\"args\":{\"argv\":" + json_list(argv) + "}}");
    ASSERT_NE(answer.find("\"ok\":true"), std::string::npos) << answer;
    ASSERT_EQ(answer.find(argv[2].substr(4)), std::string::npos) << "HA1 shown: " << answer;
  }

  std::string bindings(const std::string& user) {
    return admin(socket_, "{\"command\":\"bindings\",\"args\":{\"aor\":\"" + user + "@C1.D1.H1\"}}");
  }

  // sipsak sends a REGISTER of `user` (from a file: sipsak resolves the -s
  // domain, and C1.D1.H1 is no DNS name) and answers the 401 with `password`.
  int sipsak_register(const std::string& user, const std::string& password, const std::string& contact,
                      std::string* out) {
    const std::string file = (dir_ / ("register-" + user + ".sip")).string();
    write_file(file, "REGISTER sip:C1.D1.H1 SIP/2.0\r\nFrom: <sip:" + user + "@C1.D1.H1>;tag=sipsak-" + user +
                         "\r\nTo: <sip:" + user + "@C1.D1.H1>\r\nCall-ID: sipsak-" + user + "-" +
                         std::to_string(++calls_) + "@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <" + contact +
                         ">\r\nExpires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    return run({"sipsak", "-vv", "-f", file, "-s",
                "sip:" + user + "@127.0.0.1:" + std::to_string(server_->port()), "-u", user, "-a", password},
               out, std::chrono::seconds(20));
  }

  // A raw REGISTER answered: first without credentials, then with those
  // `auth_user`/`password` give for the `algorithm` challenge.
  std::string register_with(const std::string& to_user, const std::string& auth_user,
                            const std::string& password, digest::Algorithm algorithm,
                            const std::string& contact_lines) {
    const std::string call = "raw-" + std::to_string(++calls_);
    const std::string challenged =
        udp_exchange(server_->port(), raw_register(to_user, call, 1, "", contact_lines));
    EXPECT_EQ(status_of(challenged), 401) << challenged;
    const std::string value = header_with(challenged, "WWW-Authenticate",
                                          "algorithm=" + std::string(digest::algorithm_name(algorithm)));
    const auto challenge = digest::parse(value);
    if (!challenge) {
      ADD_FAILURE() << "no usable challenge in " << challenged;
      return "";
    }
    const auto credentials =
        digest::authorization(*challenge, auth_user, password, "REGISTER", "sip:C1.D1.H1", "e2e-cnonce", 1);
    if (!credentials) return "";
    return udp_exchange(
        server_->port(),
        raw_register(to_user, call, 2, "Authorization: " + *credentials + "\n", contact_lines));
  }

  std::string log() { return read_file(server_->log()); }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
  int calls_ = 0;
};

}  // namespace

TEST_F(AuthDigestE2eTest, SipsakRegistersWithThePassword) {
  put_user("U1", "lion-king");
  std::string out;
  EXPECT_EQ(sipsak_register("U1", "lion-king", "sip:u1@127.0.0.1:5999", &out), 0) << out << "\nserver log:\n"
                                                                                  << log();
  EXPECT_NE(out.find("authorizing"), std::string::npos) << out;  // answered a 401
  EXPECT_NE(bindings("U1").find("sip:u1@127.0.0.1:5999"), std::string::npos) << bindings("U1");
  EXPECT_NE(admin(socket_, "{\"command\":\"stats\"}").find("auth_ok_total"), std::string::npos);
}

TEST_F(AuthDigestE2eTest, Sha256CredentialsRegisterToo) {
  put_user("U1", "lion-king");
  const std::string r = register_with("U1", "U1", "lion-king", digest::Algorithm::kSha256,
                                      "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n");
  EXPECT_EQ(status_of(r), 200) << r << "\nserver log:\n" << log();
  EXPECT_NE(bindings("U1").find("sip:u1@127.0.0.1:5998"), std::string::npos) << bindings("U1");
}

TEST_F(AuthDigestE2eTest, WrongPasswordIs401AndBindsNothing) {
  put_user("U1", "lion-king");
  std::string out;
  EXPECT_NE(sipsak_register("U1", "hyena", "sip:u1@127.0.0.1:5999", &out), 0) << out;
  EXPECT_NE(out.find("401"), std::string::npos) << out;
  EXPECT_EQ(bindings("U1").find("sip:u1@127.0.0.1:5999"), std::string::npos) << bindings("U1");
  const std::string r = register_with("U1", "U1", "hyena", digest::Algorithm::kSha256,
                                      "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n");
  EXPECT_EQ(status_of(r), 401) << r;
  EXPECT_EQ(bindings("U1").find("127.0.0.1:599"), std::string::npos) << bindings("U1");
  // One line per refusal that fail2ban can match, with the sender's address.
  const std::string text = log();
  EXPECT_NE(text.find("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:127.0.0.1:"), std::string::npos)
      << text;
  EXPECT_NE(text.find(" status=401 reason=\"wrong password\""), std::string::npos) << text;
}

TEST_F(AuthDigestE2eTest, UnauthenticatedWildcardRemovalIs401AndBindingsStay) {
  put_user("U1", "lion-king");
  std::string out;
  ASSERT_EQ(sipsak_register("U1", "lion-king", "sip:u1@127.0.0.1:5999", &out), 0) << out;
  const std::string r =
      udp_exchange(server_->port(), raw_register("U1", "wipe", 1, "", "Contact: *\nExpires: 0\n"));
  EXPECT_EQ(status_of(r), 401) << r;
  EXPECT_NE(header_with(r, "WWW-Authenticate", "realm=\"C1.D1.H1\""), "") << r;
  EXPECT_NE(bindings("U1").find("sip:u1@127.0.0.1:5999"), std::string::npos) << bindings("U1");
  // Nor can anyone bind a contact of their own to U1.
  const std::string bind = udp_exchange(server_->port(), raw_register("U1", "steal", 1, ""));
  EXPECT_EQ(status_of(bind), 401) << bind;
  EXPECT_EQ(bindings("U1").find("attacker"), std::string::npos) << bindings("U1");
}

TEST_F(AuthDigestE2eTest, SomeoneElsesAorWithOwnCredentialsIs403) {
  put_user("U1", "lion-king");
  put_user("U2", "circle-of-life", "owner");
  std::string out;
  ASSERT_EQ(sipsak_register("U2", "circle-of-life", "sip:u2@127.0.0.1:5997", &out), 0) << out;
  // U1 authenticates correctly but asks to bind, then to remove, U2's contacts.
  std::string r = register_with("U2", "U1", "lion-king", digest::Algorithm::kMd5,
                                "Contact: <sip:attacker@127.0.0.1:6666>\nExpires: 600\n");
  EXPECT_EQ(status_of(r), 403) << r;
  EXPECT_NE(r.find("403 Not Your Binding"), std::string::npos) << r;
  r = register_with("U2", "U1", "lion-king", digest::Algorithm::kSha256, "Contact: *\nExpires: 0\n");
  EXPECT_EQ(status_of(r), 403) << r;
  const std::string list = bindings("U2");
  EXPECT_NE(list.find("sip:u2@127.0.0.1:5997"), std::string::npos) << list;
  EXPECT_EQ(list.find("attacker"), std::string::npos) << list;
  // U1's own removal of its (absent) bindings is its business.
  r = register_with("U1", "U1", "lion-king", digest::Algorithm::kMd5, "Contact: *\nExpires: 0\n");
  EXPECT_EQ(status_of(r), 200) << r;
}

TEST_F(AuthDigestE2eTest, UserListShowsNoHa1AndDeletedUsersCannotRegister) {
  put_user("U1", "lion-king", "owner");
  std::string list = admin(socket_, "{\"command\":\"auth-digest.user-list\"}");
  EXPECT_NE(list.find("\"aor\":\"U1@C1.D1.H1\""), std::string::npos) << list;
  EXPECT_NE(list.find("\"role\":\"owner\""), std::string::npos) << list;
  EXPECT_EQ(list.find(digest::ha1(digest::Algorithm::kMd5, "U1", kRealm, "lion-king")), std::string::npos)
      << list;
  const std::string del =
      admin(socket_, "{\"command\":\"auth-digest.user-del\",\"args\":{\"argv\":[\"U1@C1.D1.H1\"]}}");
  EXPECT_NE(del.find("\"removed\":true"), std::string::npos) << del;
  const std::string r = register_with("U1", "U1", "lion-king", digest::Algorithm::kSha256,
                                      "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n");
  EXPECT_EQ(status_of(r), 401) << r;
  EXPECT_NE(log().find("refused method=REGISTER aor=U1@C1.D1.H1 source=udp:127.0.0.1:"), std::string::npos);
}

TEST_F(AuthDigestE2eTest, NonceSurvivesARestartWithTheSameSecret) {
  put_user("U1", "lion-king");
  const std::string call = "restart";
  const std::string challenged = udp_exchange(server_->port(), raw_register("U1", call, 1, ""));
  const auto challenge = digest::parse(header_with(challenged, "WWW-Authenticate", "algorithm=SHA-256"));
  ASSERT_TRUE(challenge) << challenged;
  server_->stop();
  server_->start();
  const auto credentials =
      digest::authorization(*challenge, "U1", "lion-king", "REGISTER", "sip:C1.D1.H1", "cn", 1);
  ASSERT_TRUE(credentials);
  const std::string r =
      udp_exchange(server_->port(), raw_register("U1", call, 2, "Authorization: " + *credentials + "\n"));
  EXPECT_EQ(status_of(r), 200) << r << "\nserver log:\n" << log();
}

// In a tree the realm is the family's own domain, from the tree plugin: the
// family server H1@C1.D1 (its top a loopback port nobody answers) challenges
// REGISTERs of its users and leaves the others to the tree.
class AuthDigestTreeE2eTest : public AuthDigestE2eTest {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() + "\n" +
        tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(free_port())) +
        "  - plugin: auth-digest\n    secret_file: " + (dir_ / "nonce.secret").string() +
        "\n  - plugin: registrar\n";
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins, "  admin_socket: " + socket_ + "\n"});
    server_->start();
  }
};

TEST_F(AuthDigestTreeE2eTest, TheFamilysUsersAreChallengedInItsDomain) {
  put_user("U1", "lion-king");
  const std::string r = register_with("U1", "U1", "lion-king", digest::Algorithm::kSha256,
                                      "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n");
  EXPECT_EQ(status_of(r), 200) << r << "\nserver log:\n" << log();
  EXPECT_NE(bindings("U1").find("sip:u1@127.0.0.1:5998"), std::string::npos) << bindings("U1");
  // Another family's user is not ours to challenge: the tree answers (a REGISTER is never sent up).
  std::string other = raw_register("U1", "other", 1, "");
  for (size_t pos; (pos = other.find("U1@C1.D1.H1")) != std::string::npos;)
    other.replace(pos, 11, "U1@C1.D2.H2");
  const std::string answer = udp_exchange(server_->port(), other);
  EXPECT_NE(status_of(answer), 401) << answer;
  EXPECT_NE(status_of(answer), 0) << answer;
}

// Three wrong passwords within a minute ban the source: one log line, the
// counter, and the IP's next requests end before any challenge or lookup.
class AuthDigestBanE2eTest : public AuthDigestE2eTest {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    const std::string plugins =
        "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
        "\n  - plugin: auth-digest\n    realm: C1.D1.H1\n    secret_file: " +
        (dir_ / "nonce.secret").string() +
        "\n    ban_after_failures: 3\n    ban_window: 60\n    ban_seconds: 600\n"
        "  - plugin: registrar\n    domains: [C1.D1.H1]\n";
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1", plugins, "  admin_socket: " + socket_ + "\n"});
    server_->start();
  }
};

TEST_F(AuthDigestBanE2eTest, RepeatedWrongPasswordsBanTheSource) {
  put_user("U1", "lion-king");
  const std::string contact = "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n";
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(status_of(register_with("U1", "U1", "hyena", digest::Algorithm::kSha256, contact)), 401);
  // Banned: even the right password gets no answer at all, no challenge and
  // no lookup; the server counts it as a banned source's request.
  const std::string banned = udp_exchange(server_->port(), raw_register("U1", "after-ban", 1, "", contact),
                                          std::chrono::milliseconds(1500));
  EXPECT_EQ(banned, "");
  EXPECT_EQ(bindings("U1").find("5998"), std::string::npos) << bindings("U1");
  const std::string text = log();
  const std::string line = "banned ip=127.0.0.1 seconds=600 failures=3 window_seconds=";
  const size_t first = text.find(line);
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(line, first + 1), std::string::npos) << "logged twice:\n" << text;
  const std::string stats = admin(socket_, "{\"command\":\"stats\"}");
  EXPECT_NE(stats.find("\"homesip_auth_digest_bans_total\":1"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"homesip_auth_digest_banned_requests_total\":1"), std::string::npos) << stats;
}

// The fail2ban filter of docs/security.md, as written there: the lines of the
// ```ini block after "filter.d/homesip.conf", so the docs cannot drift from the log.
std::string documented_fail2ban_filter() {
  const std::string doc = read_file(std::filesystem::path(source_dir()) / "docs" / "security.md");
  const size_t named = doc.find("/etc/fail2ban/filter.d/homesip.conf");
  const size_t start = doc.find("```ini\n", named);
  const size_t end = doc.find("```", start + 7);
  if (named == std::string::npos || start == std::string::npos || end == std::string::npos) return "";
  return doc.substr(start + 7, end - start - 7);
}

// fail2ban-regex (Debian's fail2ban) with that filter on a real server's log:
// a plain challenge writes nothing to match; two wrong passwords and an
// unknown user are three matches, their ban the fourth.
TEST_F(AuthDigestBanE2eTest, TheDocumentedFail2banFilterMatchesEachFailureAndTheBan) {
  if (!std::filesystem::exists("/usr/bin/fail2ban-regex"))
    GTEST_SKIP() << "fail2ban-regex not installed (Debian: fail2ban)";
  const std::string filter = documented_fail2ban_filter();
  ASSERT_NE(filter.find("failregex = "), std::string::npos) << "no filter in docs/security.md";
  put_user("U1", "lion-king");
  const std::string contact = "Contact: <sip:u1@127.0.0.1:5998>\nExpires: 600\n";
  EXPECT_EQ(status_of(udp_exchange(server_->port(), raw_register("U1", "plain", 1, "", contact))), 401);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(status_of(register_with("U1", "U1", "hyena", digest::Algorithm::kSha256, contact)), 401);
  EXPECT_EQ(status_of(register_with("U9", "U9", "nobody", digest::Algorithm::kSha256, contact)), 401);
  ASSERT_TRUE(eventually([&] { return log().find("banned ip=127.0.0.1 ") != std::string::npos; })) << log();
  const std::string text = log();
  EXPECT_NE(text.find("refused method=REGISTER aor=U9@C1.D1.H1 source=udp:127.0.0.1:"), std::string::npos)
      << text;

  const auto filter_file = dir_ / "homesip.conf";
  write_file(filter_file, filter);
  std::string out;
  ASSERT_EQ(
      run({"fail2ban-regex", server_->log().string(), filter_file.string()}, &out, std::chrono::seconds(60)),
      0)
      << out;
  // Per failregex line: 3 refusals, 1 ban; in all, 4 lines matched.
  EXPECT_NE(out.find("1) [3] "), std::string::npos) << out << "\nlog:\n" << text;
  EXPECT_NE(out.find("2) [1] "), std::string::npos) << out << "\nlog:\n" << text;
  EXPECT_NE(out.find(" 4 matched"), std::string::npos) << out << "\nlog:\n" << text;
}
