// homesipd as a process: command line, config errors, signals.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <sstream>

#include "config.hpp"
#include "test_support.hpp"

using namespace homesip::test;

namespace {
std::string base_config(uint16_t port) {
  return "server:\n  listen: [udp:127.0.0.1:" + std::to_string(port) + "]\n  plugin_dirs: [" + plugin_dir() +
         "]\nplugins:\n";
}
}  // namespace

// The examples name the files of a deployment (/etc/homesip/tls, the LDAP password), which
// --check-config opens as a start would: here they are the test's own.
TEST(Daemon, CheckConfigAcceptsEveryExampleConfig) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(run({HOMESIP_TEST_HOMESIPCTL, "pki", "init", (dir / "pki").string()}, &out), 0) << out;
  ASSERT_EQ(run({HOMESIP_TEST_HOMESIPCTL, "pki", "issue", (dir / "pki").string(), "H1@C1.D1", "--ip",
                 "127.0.0.1", "--out", (dir / "tls").string()},
                &out),
            0)
      << out;
  write_file(dir / "ldap.secret", "secret\n");
  std::filesystem::permissions(dir / "ldap.secret",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  for (const char* name : {"province.yaml", "community.yaml", "family.yaml", "family-ldap.yaml"}) {
    const std::string config = source_dir() + "/config/examples/" + name;
    std::vector<std::string> argv{homesipd_path(), "--config",
                                  config,          "--check-config",
                                  "--set",         "server.plugin_dirs=[" + plugin_dir() + "]",
                                  "--set",         "server.tls_certificates=" + (dir / "tls").string()};
    if (std::string(name) == "family-ldap.yaml")
      argv.insert(argv.end(),
                  {"--set", "plugins.location-ldap.password_file=" + (dir / "ldap.secret").string()});
    EXPECT_EQ(run(argv, &out), 0) << name << ": " << out;
  }
  // Without the certificate directory the same config is refused, as its start would be.
  EXPECT_EQ(run({homesipd_path(), "--config", source_dir() + "/config/examples/family.yaml", "--check-config",
                 "--set", "server.plugin_dirs=[" + plugin_dir() + "]", "--set",
                 "server.tls_certificates=" + (dir / "no-tls").string()},
                &out),
            2)
      << out;
  EXPECT_NE(out.find("server.tls_certificates: '" + (dir / "no-tls").string() + "' is not a directory"),
            std::string::npos)
      << out;
}

TEST(Daemon, BadConfigExitsNonZeroNamingFileLineAndKey) {
  TempDir dir;
  write_file(dir / "bad.yaml", base_config(free_port()) + "  - plugin: registrar\n    min_expires: soon\n");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "bad.yaml").string()}, &out), 2);
  EXPECT_NE(out.find("bad.yaml:6: plugins[0].min_expires: expected an integer, got 'soon'"),
            std::string::npos)
      << out;
}

// A config of before issue 12 is refused with where its keys went.
TEST(Daemon, RetiredServerKeyExitsNonZeroNamingTheTreeBlock) {
  TempDir dir;
  write_file(dir / "old.yaml", "server:\n  name: H1\n  domain: C1.D1\n  listen: [udp:127.0.0.1:5130]\n");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "old.yaml").string(), "--check-config"}, &out), 2);
  EXPECT_NE(out.find("old.yaml:2: server.name: moved to the tree plugin's block: - plugin: tree with name, "
                     "domain and top (docs/management-network.md)"),
            std::string::npos)
      << out;
  write_file(dir / "redirect.yaml", base_config(free_port()) + "  - plugin: redirect\n");
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "redirect.yaml").string(), "--check-config"}, &out), 2);
  EXPECT_NE(out.find("redirect.yaml:5: plugins[0].plugin: the redirect plugin is now `tree`"),
            std::string::npos)
      << out;
}

TEST(Daemon, OutOfRangeSettingExitsNonZeroNamingFileLineKeyAndRange) {
  TempDir dir;
  write_file(dir / "range.yaml", base_config(free_port()) +
                                     "  - plugin: location-sqlite\n    path: " + (dir / "l.sqlite").string() +
                                     "\n  - plugin: registrar\n    min_expires: 0\n");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "range.yaml").string()}, &out), 2);
  EXPECT_NE(out.find("range.yaml:8: plugins[1].min_expires"), std::string::npos) << out;
  EXPECT_NE(out.find("min_expires must be between 1 and 604800, not 0"), std::string::npos) << out;
}

TEST(Daemon, RegistrarWithoutStoreIsAClearError) {
  TempDir dir;
  write_file(dir / "c.yaml", base_config(free_port()) + "  - plugin: registrar\n");
  std::string out;
  // The host refuses the set from the descriptors, before any plugin is created.
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "c.yaml").string(), "--check-config"}, &out), 3);
  EXPECT_NE(out.find("c.yaml:5: plugins[0]: plugin 'registrar' requires homesip.location-store/1, which no "
                     "loaded plugin provides: add "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("location-sqlite"), std::string::npos) << out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "c.yaml").string()}, &out), 3);
  EXPECT_NE(out.find("plugin 'registrar' requires homesip.location-store/1"), std::string::npos) << out;
}

TEST(Daemon, UnknownPluginExitsWithPluginError) {
  TempDir dir;
  write_file(dir / "c.yaml", base_config(free_port()) + "  - plugin: teleporter\n");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "c.yaml").string(), "--check-config"}, &out), 3);
  EXPECT_NE(out.find("plugin 'teleporter' not found"), std::string::npos) << out;
}

TEST(Daemon, PortInUseIsReported) {
  TempDir dir;
  const uint16_t port = free_port();
  write_file(dir / "c.yaml", base_config(port));
  Process first({homesipd_path(), "--config", (dir / "c.yaml").string()}, dir / "first.log");
  ASSERT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir / "first.log");
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "c.yaml").string()}, &out), 4);
  EXPECT_NE(out.find("cannot listen on udp:127.0.0.1:" + std::to_string(port)), std::string::npos) << out;
}

TEST(Daemon, ListensOnAHostNameAndNamesOneThatDoesNotResolve) {
  TempDir dir;
  const uint16_t port = free_port();
  std::string config = base_config(port);
  config.replace(config.find("udp:127.0.0.1:"), 14, "udp:localhost:");
  write_file(dir / "c.yaml", config);
  Process server({homesipd_path(), "--config", (dir / "c.yaml").string()}, dir / "server.log");
  EXPECT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir / "server.log");
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir / "server.log");

  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "c.yaml").string(), "--set",
                 "server.listen=[udp:no-such-host.invalid:" + std::to_string(port) + "]"},
                &out),
            4);
  EXPECT_NE(out.find("cannot listen on udp:no-such-host.invalid:" + std::to_string(port) + ": "),
            std::string::npos)
      << out;
}

// jemalloc serves the whole process only if the linker kept it (and placed it
// before libc); a build that silently dropped it would lose its gain unseen.
TEST(Daemon, RunsOnTheAllocatorTheBuildChose) {
  TempDir dir;
  const uint16_t port = free_port();
  write_file(dir / "c.yaml", base_config(port));
  Process server({homesipd_path(), "--config", (dir / "c.yaml").string()}, dir / "server.log");
  ASSERT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir / "server.log");
  const std::string maps = read_file("/proc/" + std::to_string(server.pid()) + "/maps");
  EXPECT_EQ(maps.find("libjemalloc") != std::string::npos, static_cast<bool>(HOMESIP_EXPECTS_JEMALLOC));
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir / "server.log");
}

TEST(Daemon, AnswersOptionsAndStopsCleanlyOnSigterm) {
  TempDir dir;
  const uint16_t port = free_port();
  write_file(dir / "c.yaml", base_config(port) + "  - plugin: location-sqlite\n    path: " +
                                 (dir / "l.sqlite").string() + "\n  - plugin: registrar\n");
  Process server({homesipd_path(), "--config", (dir / "c.yaml").string()}, dir / "server.log");
  ASSERT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir / "server.log");
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir / "server.log");
  EXPECT_NE(read_file(dir / "server.log").find("stopped"), std::string::npos);
}

// A plugin's thread that posts to the main loop while homesipd stops (as a
// broker connection's callbacks do) must not make the exit crash: what it
// posted runs while its library is loaded, and what it posts during its own
// destruction is dropped. test-poster posts a task of its own code every
// 200 us and always one more from its destructor; run after the unload, that
// task crashed homesipd (exit 139, every time, with daemon.cpp's loop.close()
// before host.destroy() removed).
TEST(Daemon, APluginThreadPostingDuringTheStopDoesNotCrashTheExit) {
  TempDir dir;
  const uint16_t port = free_port();
  write_file(dir / "c.yaml", "server:\n  listen: [udp:127.0.0.1:" + std::to_string(port) +
                                 "]\n  plugin_dirs: [" + plugin_dir() + ", " +
                                 HOMESIP_TEST_FIXTURE_PLUGIN_DIR + "]\nplugins:\n  - plugin: test-poster\n");
  Process server({homesipd_path(), "--config", (dir / "c.yaml").string()}, dir / "server.log");
  ASSERT_TRUE(wait_for_sip(port, std::chrono::seconds(10))) << read_file(dir / "server.log");
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << read_file(dir / "server.log");
  EXPECT_NE(read_file(dir / "server.log").find("stopped"), std::string::npos)
      << read_file(dir / "server.log");
}

TEST(Daemon, UsageErrors) {
  std::string out;
  EXPECT_EQ(run({homesipd_path()}, &out), 1);
  EXPECT_NE(out.find("--config is required"), std::string::npos) << out;
  EXPECT_EQ(run({homesipd_path(), "--bogus"}, &out), 1);
  EXPECT_NE(out.find("not expected: --bogus"), std::string::npos) << out;
  EXPECT_EQ(run({homesipd_path(), "--config"}, &out), 1);  // no value
  EXPECT_NE(out.find("--config: 1 required FILE missing"), std::string::npos) << out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin"}, &out), 1);
  EXPECT_NE(out.find("--describe-plugin: 1 required NAME missing"), std::string::npos) << out;
}

TEST(Daemon, HelpListsEveryOptionAndExits0) {
  for (const char* help : {"--help", "-h"}) {
    std::string out;
    EXPECT_EQ(run({homesipd_path(), help}, &out), 0) << help;
    for (const char* option : {"-c,--config FILE", "--set KEY=VALUE", "--check-config",
                               "--describe-plugin NAME", "--dump-default"})
      EXPECT_NE(out.find(option), std::string::npos) << help << " lacks " << option << ": " << out;
  }
}

// -c, --set=KEY=VALUE, and a repeated --set all reach the config; the last
// --config given is the one read.
TEST(Daemon, ShortConfigAndEveryFormOfSetAreRead) {
  TempDir dir;
  write_file(dir / "c.yaml", base_config(free_port()));
  const std::string config = (dir / "c.yaml").string();
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "-c", config, "--check-config"}, &out), 0) << out;
  EXPECT_EQ(run({homesipd_path(), "--config", "/no/such.yaml", "--config", config, "--check-config"}, &out),
            0)
      << out;
  EXPECT_EQ(run({homesipd_path(), "-c", config, "--check-config", "--set=server.colour=red"}, &out), 2);
  EXPECT_NE(out.find("--set server.colour=red: server.colour: unknown key"), std::string::npos) << out;
  EXPECT_EQ(run({homesipd_path(), "-c", config, "--check-config", "--set", "server.udp_buffer_bytes=0",
                 "--set", "server.shape=round"},
                &out),
            2);
  EXPECT_NE(out.find("--set server.shape=round: server.shape: unknown key"), std::string::npos) << out;
}

namespace {
// The keys `--describe-plugin server` lists ("server.limits.max_headers").
std::vector<std::string> core_keys() {
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin", "server"}, &out), 0) << out;
  std::vector<std::string> keys;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("  server.", 0) == 0 || line.rfind("  log.", 0) == 0)
      keys.push_back(line.substr(2, line.find(':') - 2));
  return keys;
}
}  // namespace

TEST(Daemon, DescribePluginServerListsTheCoreKeysLikeAPluginsSettings) {
  std::string out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin", "server"}, &out), 0) << out;
  EXPECT_EQ(out.rfind("server (built in) (SDK ", 0), 0u) << out;
  for (const char* line :
       {"\n  server.listen: (required)    # addresses served", "\n  server.limits.max_headers: 100    # ",
        "\n  server.connections.idle_timeout_s: 300    # ", "\n  log.sofia_level: 0    # "})
    EXPECT_NE(out.find(line), std::string::npos) << line << " missing in\n" << out;
  EXPECT_EQ(core_keys().size(), homesip::core::core_settings().size()) << "every key of the table\n" << out;
  for (const char* retired :
       {"server.name", "server.domain", "server.parent", "server.contact", "server.register_expires"})
    EXPECT_EQ(out.find(std::string("\n  ") + retired + ":"), std::string::npos) << retired << " in\n" << out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin", "registrar"}, &out), 0) << out;
  EXPECT_NE(out.find("\n  min_expires: 60    # shortest binding accepted"), std::string::npos) << out;
  // What it needs and exports, read from its descriptor.
  EXPECT_NE(out.find("\nrequires: homesip.location-store/1\nuses: homesip.tree/1\nmetrics:\n  "
                     "homesip_registrar_registrations_total "
                     "(counter)    # "),
            std::string::npos)
      << out;
  EXPECT_EQ(run({homesipd_path(), "--describe-plugin", "location-sqlite"}, &out), 0) << out;
  EXPECT_NE(out.find("\nprovides: homesip.location-store/1, homesip.user-store/1\n"), std::string::npos)
      << out;
}

// Listed before the store (and the tree) they require or use, the registrar
// and the tree still get them: the host creates the providers first (a
// registrar created without its store throws, and homesipd would exit 3).
TEST(Daemon, PluginsListedInAnyOrderServeTheSame) {
  TempDir dir;
  HomesipServer server(
      dir, ServerOptions{"H1", "C1.D1",
                         "  - plugin: registrar\n" +
                             tree_plugin_yaml("H1", "C1.D1", "sip:127.0.0.1:" + std::to_string(free_port())) +
                             "  - plugin: location-sqlite\n    path: " + (dir / "l.sqlite").string() + "\n",
                         ""});
  server.start();
  const std::string registered = udp_exchange(
      server.port(),
      "REGISTER sip:C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bKany\n"
      "Max-Forwards: 70\nFrom: <sip:U1@C1.D1.H1>;tag=any\nTo: <sip:U1@C1.D1.H1>\nCall-ID: any@test\n"
      "CSeq: 1 REGISTER\nContact: <sip:U1@127.0.0.1:9999>\nExpires: 600\nContent-Length: 0\n\n");
  ASSERT_EQ(status_of(registered), 200) << registered << read_file(server.log());
  const std::string redirected = udp_exchange(
      server.port(),
      "MESSAGE sip:U1@C1.D1.H1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:$PORT$;rport;branch=z9hG4bKanym\n"
      "Max-Forwards: 70\nFrom: <sip:U2@C1.D1.H1>;tag=m\nTo: <sip:U1@C1.D1.H1>\nCall-ID: anym@test\n"
      "CSeq: 1 MESSAGE\nContent-Length: 0\n\n");
  EXPECT_EQ(status_of(redirected), 302) << redirected;
  EXPECT_NE(redirected.find("Contact: <sip:U1@127.0.0.1:9999>"), std::string::npos) << redirected;
}

// The dump is a config homesipd accepts as it is, with every plugin built.
TEST(Daemon, DumpDefaultIsAValidConfigWithEveryKeyAndPlugin) {
  TempDir dir;
  std::string dump, out;
  ASSERT_EQ(run({homesipd_path(), "--dump-default"}, &dump), 0) << dump;
  write_file(dir / "all.yaml", dump);
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "all.yaml").string(), "--check-config"}, &out), 0)
      << out;
  EXPECT_NE(out.find("all.yaml: ok ("), std::string::npos) << out << dump;
  for (const auto& key : core_keys()) {
    const std::string leaf = " " + key.substr(key.rfind('.') + 1) + ":";  // "# max: 1000" too
    EXPECT_NE(dump.find(leaf), std::string::npos) << key << " missing in\n" << dump;
  }
  EXPECT_EQ(dump.find("\n  name: H1\n"), std::string::npos) << dump;  // the core names no server
  for (const char* entry :
       {"\nplugins:  # in any order: providers of services are created first, handlers run by phase\n",
        "\n  - plugin: location-sqlite\n    # SQLite file", "- plugin: tree\n", "\n  - plugin: registrar\n",
        "\n    min_expires: 60\n"})
    EXPECT_NE(dump.find(entry), std::string::npos) << entry << " missing in\n" << dump;
  if (std::filesystem::exists(plugin_dir() + "/location-ldap.so")) {
    EXPECT_NE(dump.find("(commented out: base_dn has no default)\n  # - plugin: location-ldap\n"),
              std::string::npos)
        << dump;
  }
}

TEST(Daemon, DumpDefaultSearchesAndKeepsTheConfigsPluginDirs) {
  TempDir dir;
  write_file(dir / "c.yaml", base_config(free_port()));
  std::string dump, out;
  ASSERT_EQ(run({homesipd_path(), "--dump-default", "--config", (dir / "c.yaml").string()}, &dump), 0)
      << dump;
  EXPECT_NE(dump.find("\n  plugin_dirs: [" + plugin_dir() + "]\n"), std::string::npos) << dump;
  write_file(dir / "all.yaml", dump);
  EXPECT_EQ(run({homesipd_path(), "--config", (dir / "all.yaml").string(), "--check-config"}, &out), 0)
      << out;
  EXPECT_EQ(run({homesipd_path(), "--dump-default", "--config", (dir / "none.yaml").string()}, &out), 2);
}

// The harness itself: a homesipd that died during a test fails that test when
// its HomesipServer goes, though no assertion of the test looked at it (a
// crash at shutdown would otherwise pass unseen). SIGKILL stands in for a
// crash (as the OOM killer's; a SIGSEGV would be 139 here and 134 under ASan,
// which turns it into an abort); the status is 128 + the signal, as a shell
// reports it.
namespace {
void run_a_server_that_crashes() {
  TempDir dir;
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", "", ""});
  server.start();
  ASSERT_EQ(::kill(server.pid(), SIGKILL), 0);
}
}  // namespace

TEST(Harness, HomesipdThatCrashedDuringATestFailsIt) {
  EXPECT_NONFATAL_FAILURE(run_a_server_that_crashes(), "ended with status 137 at the end of the test");
}

TEST(Harness, HomesipdStoppedByTheTestIsLeftToTheTest) {
  TempDir dir;
  HomesipServer server(dir, ServerOptions{"H1", "C1.D1", "", ""});
  server.start();
  server.kill9();  // the test's own doing: no failure when `server` goes
}
