// homesipctl against a running family server's admin socket: the bindings a
// REGISTER made, the plugins, the counters; what an operator sees when the
// server is not there; users of the auth-digest plugin (user add|passwd|del|
// list), checked by registering with the password they were given.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "test_support.hpp"

using namespace homesip::test;

namespace {

std::string homesipctl() { return HOMESIP_TEST_HOMESIPCTL; }

class HomesipctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                                "\n  - plugin: registrar\n    domains: [C1.D1.H1]\n",
                            "  admin_socket: " + socket_ + "\n"});
    server_->start();
    const std::string registered = udp_exchange(
        server_->port(),
        "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bKctl\n"
        "Max-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=ctl\nTo: <sip:U1@C1.D1.H1>\nCall-ID: ctl@test\n"
        "CSeq: 1 REGISTER\nContact: <sip:U1@127.0.0.1:9999>\nExpires: 600\nUser-Agent: ctl-test\n"
        "Content-Length: 0\n\n");
    ASSERT_EQ(status_of(registered), 200) << registered;
  }
  int ctl(const std::vector<std::string>& arguments, std::string* output) {
    std::vector<std::string> argv{homesipctl(), "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(10));
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(HomesipctlTest, ListsTheBindingsOfADomain) {
  std::string out;
  ASSERT_EQ(ctl({"bindings", "C1.D1.H1"}, &out), 0) << out;
  EXPECT_EQ(
      out.rfind("AOR                     CONTACT                                 EXPIRES  Q    SOURCE", 0),
      0u)
      << out;
  EXPECT_NE(out.find("\nU1@C1.D1.H1             sip:U1@127.0.0.1:9999                   "), std::string::npos)
      << out;
  EXPECT_NE(out.find("U1@C1.D1.H1"), std::string::npos) << out;
  EXPECT_NE(out.find("sip:U1@127.0.0.1:9999"), std::string::npos) << out;
  EXPECT_NE(out.find("ctl-test"), std::string::npos) << out;
  std::string same;
  ASSERT_EQ(ctl({"bindings", "--domain", "C1.D1.H1"}, &same), 0) << same;
  EXPECT_EQ(same, out);
}

// The core knows no tree, so no domain of its own: it says how to ask.
TEST_F(HomesipctlTest, BindingsWithoutADomainSaysHowToAsk) {
  std::string out;
  EXPECT_EQ(ctl({"bindings"}, &out), 2) << out;
  EXPECT_NE(out.find("bindings DOMAIN"), std::string::npos) << out;
}

TEST_F(HomesipctlTest, OneAorAsJson) {
  std::string out;
  ASSERT_EQ(ctl({"--json", "bindings", "U1@C1.D1.H1"}, &out), 0) << out;
  const auto result = nlohmann::json::parse(out);
  ASSERT_EQ(result["U1@C1.D1.H1"].size(), 1u) << out;
  const auto& binding = result["U1@C1.D1.H1"][0];
  EXPECT_EQ(binding["contact"], "sip:U1@127.0.0.1:9999");
  EXPECT_GT(binding["expires_in"].get<int>(), 590);
  EXPECT_LE(binding["expires_in"].get<int>(), 600);
  EXPECT_EQ(binding["user_agent"], "ctl-test");
  ASSERT_EQ(ctl({"--json", "bindings", "U9@C1.D1.H1"}, &out), 0) << out;
  EXPECT_TRUE(nlohmann::json::parse(out)["U9@C1.D1.H1"].empty()) << out;
}

TEST_F(HomesipctlTest, PluginsAndStats) {
  std::string out;
  ASSERT_EQ(ctl({"--json", "plugins"}, &out), 0) << out;
  const auto plugins = nlohmann::json::parse(out);
  ASSERT_EQ(plugins.size(), 2u) << out;
  EXPECT_EQ(plugins[0]["name"], "location-sqlite");
  EXPECT_EQ(plugins[1]["name"], "registrar");
  ASSERT_EQ(ctl({"--json", "stats"}, &out), 0) << out;
  const auto stats = nlohmann::json::parse(out);
  // The core knows no tree name: the server is its first listener.
  EXPECT_EQ(stats["server"], "udp:127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_GE(stats["uptime_s"].get<int>(), 0);
  EXPECT_EQ(stats["tcp_tls_connections"].get<int>(), 0);
  // The one REGISTER of SetUp, counted by the registrar's metrics.
  EXPECT_EQ(stats["metrics"]["homesip_registrar_registrations_total"], 1) << out;
  EXPECT_EQ(stats["metrics"]["homesip_registrar_rejected_total"], 0) << out;
  // --json after the command means the same.
  std::string after;
  ASSERT_EQ(ctl({"plugins", "--json"}, &after), 0) << after;
  EXPECT_EQ(nlohmann::json::parse(after, nullptr, false), plugins) << after;
}

TEST_F(HomesipctlTest, TheSocketIsTheOwnersOnly) {
  struct stat info {};
  ASSERT_EQ(::stat(socket_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(HomesipctlTest, NoServerIsExit3AndSaysWhere) {
  ASSERT_EQ(server_->stop(), 0);
  std::string out;
  EXPECT_EQ(ctl({"bindings", "C1.D1.H1"}, &out), 3) << out;
  EXPECT_NE(out.find("cannot reach homesipd at " + socket_), std::string::npos) << out;
}

// A plugin's own commands and metrics through homesipctl: the fixture plugin
// test-provider (tests/plugins/service_plugins.cpp) declares echo, badjson,
// fails and unbound (never bound), a counter echoes_total and a gauge level.
class PluginCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    server_ = std::make_unique<HomesipServer>(
        dir_,
        ServerOptions{"H1", "C1.D1", "  - plugin: test-provider\n", "  admin_socket: " + socket_ + "\n"});
    server_->set_extra_arguments(
        {"--set", "server.plugin_dirs=[" + std::string(HOMESIP_TEST_FIXTURE_PLUGIN_DIR) + "]"});
    server_->start();
  }
  int ctl(const std::vector<std::string>& arguments, std::string* output) {
    std::vector<std::string> argv{homesipctl(), "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(10));
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(PluginCommandsTest, RunsAPluginCommandWithItsArguments) {
  std::string out;
  ASSERT_EQ(ctl({"test-provider.echo", "a", "b"}, &out), 0) << out;
  EXPECT_EQ(out, "[\"a\",\"b\"]\n");
  ASSERT_EQ(ctl({"--json", "test-provider.echo", "two words", "-x"}, &out), 0) << out;
  EXPECT_EQ(out, "[\n  \"two words\",\n  \"-x\"\n]\n");
  ASSERT_EQ(ctl({"test-provider.echo"}, &out), 0) << out;
  EXPECT_EQ(out, "[]\n");
}

TEST_F(PluginCommandsTest, CommandsTheServerCannotRunAreExit2WithTheReason) {
  std::string out;
  EXPECT_EQ(ctl({"test-provider.nothing"}, &out), 2) << out;
  EXPECT_EQ(out, "homesipctl: unknown command 'test-provider.nothing' (try help)\n");
  EXPECT_EQ(ctl({"test-provider.unbound"}, &out), 2) << out;
  EXPECT_EQ(out, "homesipctl: test-provider.unbound is declared but its plugin never bound it\n");
  EXPECT_EQ(ctl({"test-provider.fails"}, &out), 2) << out;
  EXPECT_EQ(out, "homesipctl: the widget bus is down\n");
  EXPECT_EQ(ctl({"test-provider.badjson"}, &out), 2) << out;
  EXPECT_EQ(out, "homesipctl: test-provider.badjson answered something that is not JSON (a plugin bug)\n");
}

// A bare name runs the one plugin command of that name ("homesipctl tree" is
// tree.tree); a name no command has is a usage error listing what there is.
TEST_F(PluginCommandsTest, ABareNameRunsTheOnePluginCommandOfThatName) {
  std::string out;
  ASSERT_EQ(ctl({"echo", "a", "b"}, &out), 0) << out;
  EXPECT_EQ(out, "[\"a\",\"b\"]\n");
  ASSERT_EQ(ctl({"--json", "echo", "two words"}, &out), 0) << out;
  EXPECT_EQ(out, "[\n  \"two words\"\n]\n");
  // Its failures are the plugin command's, as with the full name.
  EXPECT_EQ(ctl({"fails"}, &out), 2) << out;
  EXPECT_EQ(out, "homesipctl: the widget bus is down\n");

  EXPECT_EQ(ctl({"nothing"}, &out), 1) << out;
  EXPECT_EQ(out.rfind("homesipctl: no command 'nothing' at this server; it has: ", 0), 0u) << out;
  for (const char* candidate : {"bindings", "help", "test-provider.echo", "test-provider.fails"})
    EXPECT_NE(out.find(candidate), std::string::npos) << candidate << " not listed: " << out;
}

TEST_F(PluginCommandsTest, StatsShowThePluginsMetrics) {
  std::string out;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ctl({"test-provider.echo", std::to_string(i)}, &out), 0) << out;
  ASSERT_EQ(ctl({"test-provider.fails"}, &out), 2) << out;  // counted only by echo
  ASSERT_EQ(ctl({"--json", "stats"}, &out), 0) << out;
  const auto metrics = nlohmann::json::parse(out)["metrics"];
  EXPECT_EQ(metrics,
            nlohmann::json({{"homesip_test_provider_echoes_total", 3}, {"homesip_test_provider_level", -7}}))
      << out;
  ASSERT_EQ(ctl({"stats"}, &out), 0) << out;
  EXPECT_NE(
      out.find("\nmetrics:\n  homesip_test_provider_echoes_total: 3\n  homesip_test_provider_level: -7\n"),
      std::string::npos)
      << out;
}

TEST_F(PluginCommandsTest, PluginsListsTheCommandsAndMetrics) {
  std::string out;
  ASSERT_EQ(ctl({"--json", "plugins"}, &out), 0) << out;
  const auto plugins = nlohmann::json::parse(out);
  ASSERT_EQ(plugins.size(), 1u) << out;
  EXPECT_EQ(plugins[0]["provides"], nlohmann::json({"test.echo/1"}));
  ASSERT_EQ(plugins[0]["commands"].size(), 4u) << out;
  EXPECT_EQ(plugins[0]["commands"][0]["name"], "test-provider.echo");
  EXPECT_EQ(plugins[0]["commands"][0]["arguments"], "WORD...");
  EXPECT_EQ(plugins[0]["commands"][0]["bound"], true);
  EXPECT_EQ(plugins[0]["commands"][3]["name"], "test-provider.unbound");
  EXPECT_EQ(plugins[0]["commands"][3]["bound"], false);
  ASSERT_EQ(ctl({"plugins"}, &out), 0) << out;
  EXPECT_NE(out.find("    commands: test-provider.echo, test-provider.badjson, test-provider.fails, "
                     "test-provider.unbound\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("    metrics: homesip_test_provider_echoes_total, homesip_test_provider_level\n"),
            std::string::npos)
      << out;
}

// ---- user add|passwd|del|list against a family server with auth-digest ----

// Digest done here by hand with OpenSSL (not with homesip::digest), so the
// test checks homesipctl's HA1 values independently.
std::string hex_hash(const std::string& algorithm, const std::string& text) {
  const EVP_MD* md = algorithm == "MD5" ? EVP_md5() : EVP_sha256();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), out, &size, md, nullptr);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", out[i]);
    hex += two;
  }
  return hex;
}

// The parameters of each WWW-Authenticate line of `response`.
std::vector<std::map<std::string, std::string>> challenges_of(const std::string& response) {
  std::vector<std::map<std::string, std::string>> found;
  static const std::regex line_re("(^|\r\n)WWW-Authenticate:[ \t]*Digest([^\r\n]*)", std::regex::icase);
  static const std::regex param_re("([A-Za-z0-9_-]+)=(\"([^\"]*)\"|[^,\\s]*)");
  for (auto it = std::sregex_iterator(response.begin(), response.end(), line_re);
       it != std::sregex_iterator(); ++it) {
    std::map<std::string, std::string> params;
    const std::string text = (*it)[2];
    for (auto p = std::sregex_iterator(text.begin(), text.end(), param_re); p != std::sregex_iterator(); ++p)
      params[(*p)[1]] = (*p)[3].matched ? (*p)[3].str() : (*p)[2].str();
    found.push_back(params);
  }
  return found;
}

// REGISTERs user@C1.D1.H1 at `port` with `password`, answering the server's
// first challenge of `algorithm`; the final status (401 again: refused).
int register_with_password(uint16_t port, const std::string& user, const std::string& password,
                           const std::string& algorithm = "SHA-256") {
  static int sequence = 0;
  const std::string id = "ctlauth" + std::to_string(++sequence), call_id = id + "@test";
  const std::string aor = user + "@C1.D1.H1";
  const std::string head =
      "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bK" + id +
      "-$CSEQ$\nMax-Forwards: 70\nFrom: <sip:" + aor + ">;tag=ctl\nTo: <sip:" + aor +
      ">\nCall-ID: " + call_id + "\nCSeq: $CSEQ$ REGISTER\nContact: <sip:" + user +
      "@127.0.0.1:9998>\nExpires: 600\n";
  auto with_cseq = [&](const std::string& cseq) {
    return std::regex_replace(head, std::regex("\\$CSEQ\\$"), cseq);
  };
  const std::string challenged = udp_exchange(port, with_cseq("1") + "Content-Length: 0\n\n");
  if (status_of(challenged) != 401) return status_of(challenged);
  for (const auto& c : challenges_of(challenged)) {
    const auto alg = c.find("algorithm");
    if ((alg == c.end() ? std::string("MD5") : alg->second) != algorithm) continue;
    const std::string uri = "sip:C1.D1.H1", nc = "00000001", cnonce = "0a4f113b";
    const std::string ha1 = hex_hash(algorithm, user + ":" + c.at("realm") + ":" + password);
    const std::string ha2 = hex_hash(algorithm, "REGISTER:" + uri);
    const std::string response =
        hex_hash(algorithm, ha1 + ":" + c.at("nonce") + ":" + nc + ":" + cnonce + ":auth:" + ha2);
    std::string credentials = "Digest username=\"" + user + "\", realm=\"" + c.at("realm") + "\", nonce=\"" +
                              c.at("nonce") + "\", uri=\"" + uri + "\", response=\"" + response +
                              "\", algorithm=" + algorithm + ", cnonce=\"" + cnonce +
                              "\", qop=auth, nc=" + nc;
    if (c.count("opaque")) credentials += ", opaque=\"" + c.at("opaque") + "\"";
    return status_of(
        udp_exchange(port, with_cseq("2") + "Authorization: " + credentials + "\nContent-Length: 0\n\n"));
  }
  ADD_FAILURE() << "no " << algorithm << " challenge in:\n" << challenged;
  return 0;
}

class UserCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = (dir_ / "h1.sock").string();
    server_ = std::make_unique<HomesipServer>(
        dir_, ServerOptions{"H1", "C1.D1",
                            "  - plugin: location-sqlite\n    path: " + (dir_ / "location.sqlite").string() +
                                "\n  - plugin: auth-digest\n    realm: C1.D1.H1\n    secret_file: " +
                                (dir_ / "nonce.secret").string() +
                                "\n  - plugin: registrar\n    domains: [C1.D1.H1]\n",
                            "  admin_socket: " + socket_ + "\n"});
    server_->start();
  }
  int ctl(const std::vector<std::string>& arguments, std::string* output) {
    std::vector<std::string> argv{homesipctl(), "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(10));
  }
  // A password file of the owner only.
  std::string password_file(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    write_file(path, text);
    std::filesystem::permissions(path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path.string();
  }
  nlohmann::json users() {
    std::string out;
    EXPECT_EQ(ctl({"--json", "user", "list", "C1.D1.H1"}, &out), 0) << out;
    return nlohmann::json::parse(out, nullptr, false);
  }
  // homesipctl on a terminal (a pty driven by python3): types each of
  // `typed` after the prompts; what the terminal showed in `output`.
  int ctl_at_terminal(const std::vector<std::string>& arguments, const std::vector<std::string>& typed,
                      std::string* output) {
    const auto driver = dir_ / "terminal.py";
    write_file(driver, R"PY(import os, pty, select, sys, time
typed = sys.argv[1].split(",") if sys.argv[1] else []
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = b""
deadline = time.time() + 10
def read_until(token):
    global out
    while (token is None or token not in out) and time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return
        if not chunk:
            return
        out += chunk
for prompt, answer in zip([b"Password for", b"Again: "], typed):
    read_until(prompt)
    time.sleep(0.1)
    os.write(fd, answer.encode() + b"\n")
read_until(None)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
)PY");
    std::string joined;
    for (const auto& t : typed) joined += (joined.empty() ? "" : ",") + t;
    std::vector<std::string> argv{"python3", driver.string(), joined, homesipctl(), "--socket", socket_};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv, output, std::chrono::seconds(15));
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<HomesipServer> server_;
};

TEST_F(UserCommandsTest, AddFromAFileThenThePhoneRegistersWithThatPasswordOnly) {
  std::string out;
  ASSERT_EQ(ctl({"user", "add", "U1@C1.D1.H1", "--role", "owner", "--password-file",
                 password_file("u1.pw", "correct horse\n")},
                &out),
            0)
      << out;
  EXPECT_EQ(out, "U1@C1.D1.H1 (owner) saved\n");
  // Both algorithms work with the password; a wrong one is refused.
  EXPECT_EQ(register_with_password(server_->port(), "U1", "correct horse", "SHA-256"), 200);
  EXPECT_EQ(register_with_password(server_->port(), "U1", "correct horse", "MD5"), 200);
  EXPECT_EQ(register_with_password(server_->port(), "U1", "correct horsE"), 401);
  EXPECT_EQ(register_with_password(server_->port(), "U9", "correct horse"), 401);  // no such user

  // The list names the user, its role and algorithms, never an HA1 or the password.
  const auto list = users();
  ASSERT_TRUE(list.is_array()) << list;
  ASSERT_EQ(list.size(), 1u) << list;
  EXPECT_EQ(list[0]["aor"], "U1@C1.D1.H1");
  EXPECT_EQ(list[0]["role"], "owner");
  auto algorithms = list[0]["algorithms"].get<std::vector<std::string>>();
  std::sort(algorithms.begin(), algorithms.end());
  EXPECT_EQ(algorithms, (std::vector<std::string>{"MD5", "SHA-256"})) << list;
  ASSERT_EQ(ctl({"user", "list", "C1.D1.H1"}, &out), 0) << out;
  EXPECT_EQ(out.rfind("AOR                     ROLE      ALGORITHMS\n", 0), 0u) << out;
  EXPECT_NE(out.find("\nU1@C1.D1.H1             owner     "), std::string::npos) << out;
  ASSERT_EQ(ctl({"user", "list"}, &out), 0) << out;  // the plugin's realm by default
  EXPECT_NE(out.find("U1@C1.D1.H1"), std::string::npos) << out;
  for (const std::string& secret :
       {hex_hash("MD5", "U1:C1.D1.H1:correct horse"), hex_hash("SHA-256", "U1:C1.D1.H1:correct horse"),
        std::string("correct horse")}) {
    EXPECT_EQ(list.dump().find(secret), std::string::npos) << secret;
    EXPECT_EQ(out.find(secret), std::string::npos) << secret;
  }
}

TEST_F(UserCommandsTest, PasswdKeepsTheRoleAndDelRemovesTheUser) {
  std::string out;
  ASSERT_EQ(
      ctl({"user", "add", "U2@C1.D1.H1", "--role", "guest", "--password-file", password_file("a", "old\n")},
          &out),
      0)
      << out;
  // From standard input ("-"), as a script would give it.
  ASSERT_EQ(run({"sh", "-c",
                 "printf 'new pass\\n' | '" + homesipctl() + "' --socket '" + socket_ +
                     "' user passwd U2@C1.D1.H1 --password-file -"},
                &out, std::chrono::seconds(10)),
            0)
      << out;
  EXPECT_EQ(out, "U2@C1.D1.H1 (guest) has a new password\n");
  EXPECT_EQ(users()[0]["role"], "guest");
  EXPECT_EQ(register_with_password(server_->port(), "U2", "new pass"), 200);
  EXPECT_EQ(register_with_password(server_->port(), "U2", "old"), 401);

  ASSERT_EQ(ctl({"user", "del", "U2@C1.D1.H1"}, &out), 0) << out;
  EXPECT_EQ(out, "U2@C1.D1.H1 removed\n");
  EXPECT_EQ(users(), nlohmann::json::array());
  ASSERT_EQ(ctl({"user", "list", "C1.D1.H1"}, &out), 0) << out;
  EXPECT_EQ(out, "no users\n");
  EXPECT_EQ(register_with_password(server_->port(), "U2", "new pass"), 401);
  ASSERT_EQ(ctl({"user", "del", "U2@C1.D1.H1"}, &out), 0) << out;
  EXPECT_EQ(out, "U2@C1.D1.H1 was not there\n");
  // passwd of someone who is not there: the server's error, nothing created.
  EXPECT_EQ(ctl({"user", "passwd", "U2@C1.D1.H1", "--password-file", password_file("b", "x\n")}, &out), 2)
      << out;
  EXPECT_NE(out.find("no user U2@C1.D1.H1"), std::string::npos) << out;
  EXPECT_EQ(users(), nlohmann::json::array());
}

TEST_F(UserCommandsTest, ThePasswordIsAskedTwiceAtTheTerminalWithoutEcho) {
  if (run({"python3", "-c", "import pty"}) != 0) GTEST_SKIP() << "python3 is not installed";
  std::string out;
  ASSERT_EQ(ctl_at_terminal({"user", "add", "U3@C1.D1.H1"}, {"typed secret", "typed secret"}, &out), 0)
      << out;
  EXPECT_NE(out.find("Password for U3@C1.D1.H1: "), std::string::npos) << out;
  EXPECT_NE(out.find("Again: "), std::string::npos) << out;
  EXPECT_EQ(out.find("typed secret"), std::string::npos) << "echoed: " << out;
  EXPECT_NE(out.find("U3@C1.D1.H1 (member) saved"), std::string::npos) << out;  // member by default
  EXPECT_EQ(register_with_password(server_->port(), "U3", "typed secret"), 200);

  // Two different answers change nothing.
  ASSERT_EQ(ctl_at_terminal({"user", "passwd", "U3@C1.D1.H1"}, {"one", "two"}, &out), 1) << out;
  EXPECT_NE(out.find("the two passwords differ; nothing changed"), std::string::npos) << out;
  EXPECT_EQ(register_with_password(server_->port(), "U3", "typed secret"), 200);
}

TEST_F(UserCommandsTest, NoPasswordOnTheCommandLineNoEmptyOneNoBadAddress) {
  std::string out;
  // stdin is not a terminal and no file is given: nothing to ask.
  EXPECT_EQ(ctl({"user", "add", "U4@C1.D1.H1"}, &out), 1) << out;
  EXPECT_NE(out.find("give --password-file FILE"), std::string::npos) << out;
  EXPECT_NE(ctl({"user", "add", "U4@C1.D1.H1", "--password", "x"}, &out), 0) << out;  // no such option
  EXPECT_NE(ctl({"user", "add", "U4@C1.D1.H1", "secret"}, &out), 0) << out;           // nor a positional one
  EXPECT_EQ(ctl({"user", "add", "U4@C1.D1.H1", "--password-file", password_file("e", "\n")}, &out), 1) << out;
  EXPECT_NE(out.find("the password is empty"), std::string::npos) << out;
  EXPECT_EQ(ctl({"user", "add", "U4", "--password-file", password_file("f", "x\n")}, &out), 1) << out;
  EXPECT_NE(out.find("not an address of record"), std::string::npos) << out;
  EXPECT_EQ(
      ctl({"user", "add", "U4@C1.D1.H1", "--role", "admin", "--password-file", password_file("g", "x\n")},
          &out),
      1)
      << out;
  // A user of another realm: the server refuses it (exit 2, its reason).
  EXPECT_EQ(ctl({"user", "add", "U4@C1.D1.H9", "--password-file", password_file("i", "x\n")}, &out), 2)
      << out;
  EXPECT_NE(out.find("not in this server's realm C1.D1.H1"), std::string::npos) << out;
  EXPECT_EQ(users(), nlohmann::json::array());
  // The role server (a child server's account) is taken like any other.
  ASSERT_EQ(ctl({"user", "add", "sip:H5@C1.D1.H1", "--role", "server", "--password-file",
                 password_file("h", "x\n")},
                &out),
            0)
      << out;
  EXPECT_EQ(users()[0]["aor"], "H5@C1.D1.H1");
  EXPECT_EQ(users()[0]["role"], "server");
}

TEST_F(HomesipctlTest, UserCommandsNeedTheAuthDigestPlugin) {
  std::string out;
  EXPECT_EQ(ctl({"user", "list", "C1.D1.H1"}, &out), 2) << out;
  EXPECT_NE(out.find("load the auth-digest plugin"), std::string::npos) << out;
}

}  // namespace
