// homesipctl against a running family server's admin socket: the bindings a
// REGISTER made, the plugins, the counters; what an operator sees when the
// server is not there.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

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

}  // namespace
