// Config loading: every error names the file, line and key.
#include "config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <sstream>

#include "test_support.hpp"

using homesip::core::ConfigFileError;
using homesip::core::load_config;
using homesip::test::TempDir;
using homesip::test::write_file;

namespace {

const char* kGood = R"(server:
  listen: [udp:127.0.0.1:5130, tcp:127.0.0.1:5130]
log:
  level: info
plugins:
  - plugin: location-sqlite
    path: h1.sqlite
  - plugin: registrar
    min_expires: 60
)";

std::string error_of(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  TempDir dir;
  const auto file = (dir / "c.yaml").string();
  write_file(file, yaml);
  try {
    load_config(file, sets);
  } catch (const ConfigFileError& e) {
    std::string text = e.what();
    const auto pos = text.find(file);
    if (pos != std::string::npos) text.replace(pos, file.size(), "FILE");
    return text;
  }
  return "no error";
}

}  // namespace

TEST(Config, ReadsServerLogAndPlugins) {
  TempDir dir;
  write_file(dir / "c.yaml", kGood);
  const auto c = load_config((dir / "c.yaml").string(), {});
  ASSERT_EQ(c.server.listen.size(), 2u);
  EXPECT_EQ(c.server.listen[1].transport, "tcp");
  EXPECT_EQ(c.server.listen[1].port, 5130);
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].name, "location-sqlite");
  EXPECT_EQ(c.plugins[0].settings["path"].as<std::string>(), "h1.sqlite");
  EXPECT_EQ(c.plugins[1].where.substr(c.plugins[1].where.rfind(':')), ":8");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n  colour: blue\n"),
            "FILE:3: server.colour: unknown key");
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\nextra: 1\n"), "FILE:3: extra: unknown key");
}

TEST(Config, BadListenAddress) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:99999]\n"),
            "FILE:2: server.listen: 'udp:127.0.0.1:99999': port must be 1..65535");
  EXPECT_EQ(error_of("server:\n  listen: [sctp:127.0.0.1:5060]\n"),
            "FILE:2: server.listen: 'sctp:127.0.0.1:5060': transport must be udp, tcp or tls");
}

TEST(Config, MissingRequiredKeys) {
  EXPECT_EQ(error_of("server:\n  admin_socket: x\n"),
            "FILE:2: server.listen: missing (e.g. [udp:127.0.0.1:5060])");
  EXPECT_EQ(error_of("log:\n  level: info\n"), "FILE:1: server: missing");
}

TEST(Config, BadLogLevel) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\nlog:\n  level: loud\n"),
            "FILE:4: log.level: must be trace, debug, info, warn or error");
}

TEST(Config, LogFormatIsTextOrJson) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\nlog:\n  format: jsn\n"),
            "FILE:4: log.format: must be text or json");
  TempDir dir;
  write_file(dir / "c.yaml", "server:\n  listen: [udp:127.0.0.1:5000]\nlog:\n  format: json\n");
  EXPECT_EQ(load_config((dir / "c.yaml").string(), {}).log.format, "json");
  EXPECT_EQ(load_config((dir / "c.yaml").string(), {"log.format=text"}).log.format, "text");
}

TEST(Config, InvalidYamlNamesTheLine) {
  const auto e = error_of("server:\n  listen: [udp:127.0.0.1:5000\n");
  EXPECT_EQ(e.rfind("FILE:", 0), 0u) << e;
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
}

TEST(Config, MissingFile) { EXPECT_THROW(load_config("/nonexistent/homesip.yaml", {}), ConfigFileError); }

TEST(Config, SetOverridesScalarsListsAndPluginSettings) {
  TempDir dir;
  write_file(dir / "c.yaml", kGood);
  const auto c = load_config((dir / "c.yaml").string(),
                             {"server.listen=[udp:127.0.0.1:6000]",
                              "plugins.location-sqlite.path=/tmp/x.sqlite", "plugins.1.min_expires=30"});
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].port, 6000);
  EXPECT_EQ(c.plugins[0].settings["path"].as<std::string>(), "/tmp/x.sqlite");
  EXPECT_EQ(c.plugins[1].settings["min_expires"].as<int>(), 30);
  ASSERT_EQ(c.plugins[1].overridden.size(), 1u);
  EXPECT_EQ(c.plugins[1].overridden[0].second, "--set plugins.1.min_expires=30");
}

TEST(Config, BadSetNamesTheOverride) {
  EXPECT_EQ(error_of(kGood, {"server.listen=[udp:127.0.0.1:0]"}),
            "--set server.listen=[udp:127.0.0.1:0]: server.listen: 'udp:127.0.0.1:0': port must be 1..65535");
  EXPECT_EQ(error_of(kGood, {"plugins.nosuch.x=1"}),
            "--set plugins.nosuch.x=1: no plugin 'nosuch' in the config");
  EXPECT_EQ(error_of(kGood, {"novalue"}), "--set novalue: expected key.path=value");
  EXPECT_EQ(error_of(kGood, {"server.colour=red"}), "--set server.colour=red: server.colour: unknown key");
  // A block only the override made is the override's too.
  EXPECT_EQ(error_of(kGood, {"nope.x=1"}), "--set nope.x=1: nope: unknown key");
}

TEST(Config, PluginEntryNeedsAName) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\nplugins:\n  - path: x\n"),
            "FILE:4: plugins[0].plugin: missing (the plugin's name)");
}

// The example configs are checked by Daemon.CheckConfigAcceptsEveryExampleConfig: they name a
// deployment's files (/etc/homesip/tls), which the config check opens, so that test gives them its own.

// Where a server stands in the tree left the core (issue 12): each retired
// key of the server: block is refused at its line, naming its new place.
TEST(Config, RetiredServerKeysNameTheirNewPlaceInTheTreeBlock) {
  const std::string tree_block = "moved to the tree plugin's block: - plugin: tree with name, domain and top";
  const std::string docs = " (docs/management-network.md)";
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\n"),
            "FILE:2: server.name: " + tree_block + docs);
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n  domain: C1.D1\n"),
            "FILE:3: server.domain: " + tree_block + docs);
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n\n  parent: sip:127.0.0.1:5110\n"),
            "FILE:4: server.parent: " + tree_block +
                " (the top server's address; the parent is learned from it)" + docs);
  EXPECT_EQ(
      error_of("server:\n  listen: [udp:127.0.0.1:5000]\n  contact: sip:H1@127.0.0.1:5000\n"),
      "FILE:3: server.contact: moved to the tree plugin's block: - plugin: tree, setting contact" + docs);
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n  register_expires: 300\n"),
            "FILE:3: server.register_expires: moved to the tree plugin's block: - plugin: tree, setting "
            "register_expires" +
                docs);
  // An empty one too (the old way to say "the top"), and from --set.
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n  parent:\n"),
            "FILE:3: server.parent: " + tree_block +
                " (the top server's address; the parent is learned from it)" + docs);
  EXPECT_EQ(error_of(kGood, {"server.name=H7"}), "--set server.name=H7: server.name: " + tree_block + docs);
}

TEST(Config, RedirectPluginIsNowTree) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\nplugins:\n  - plugin: redirect\n"
                     "    parent_contact: sip:D1@127.0.0.1:5120\n"),
            "FILE:4: plugins[0].plugin: the redirect plugin is now `tree`; its parent_contact is gone: the "
            "parent is learned from the top; give the tree block name, domain and top "
            "(docs/management-network.md)");
}

TEST(Config, ContactForTheFirstListener) {
  TempDir dir;
  write_file(dir / "c.yaml", kGood);
  const auto c = load_config((dir / "c.yaml").string(), {});
  EXPECT_EQ(c.server.listen[0].contact_for("H1"), "sip:H1@127.0.0.1:5130");
  EXPECT_EQ(c.server.listen[0].contact_for(""), "sip:127.0.0.1:5130");
  EXPECT_EQ(c.server.listen[1].contact_for("H1"), "sip:H1@127.0.0.1:5130;transport=tcp");
}

namespace {

std::string core_defaults() {
  std::ostringstream out;
  homesip::core::write_core_defaults(out);
  return out.str();
}

// True when `node` has the dotted path ("server.limits.max_headers").
bool has_path(const YAML::Node& node, const std::string& path) {
  const auto dot = path.find('.');
  if (!node.IsMap()) return false;
  const YAML::Node child = node[path.substr(0, dot)];
  return child.IsDefined() && (dot == std::string::npos || has_path(child, path.substr(dot + 1)));
}

std::string leaf_of(const std::string& key) { return key.substr(key.rfind('.') + 1); }

}  // namespace

// The table is the list of known keys: every key in it is accepted (the ones
// without a default with their example value), others are refused.
TEST(CoreSettings, EveryKeyOfTheTableIsAcceptedAndNoOther) {
  TempDir dir;
  write_file(dir / "c.yaml", kGood);
  for (const auto& s : homesip::core::core_settings()) {
    const char* value = s.spec.default_value ? s.spec.default_value : s.example;
    ASSERT_NE(value, nullptr) << s.spec.key << " has neither a default nor an example";
    const std::string set = std::string(s.spec.key) + "=" + (std::string(value).empty() ? "''" : value);
    EXPECT_NO_THROW(load_config((dir / "c.yaml").string(), {set})) << set;
  }
  EXPECT_EQ(error_of(kGood, {"server.limits.max_bodies=3"}),
            "--set server.limits.max_bodies=3: server.limits.max_bodies: unknown key");
  EXPECT_EQ(error_of(kGood, {"log.colour=red"}), "--set log.colour=red: log.colour: unknown key");
}

// The declared defaults are the ones a config without the key gets.
TEST(CoreSettings, DeclaredDefaultsAreTheLoadedDefaults) {
  TempDir dir;
  write_file(dir / "c.yaml", "server:\n  listen: [udp:127.0.0.1:5000]\n");
  const auto c = load_config((dir / "c.yaml").string(), {});
  const std::map<std::string, std::string> loaded{
      {"server.plugin_dirs", c.server.plugin_dirs.empty() ? "[]" : "?"},
      {"server.tls_certificates", c.server.tls_certificates},
      {"server.tls_verify_clients",
       c.server.tls_verify_clients == homesip::core::TlsClientVerification::kOptional ? "optional" : "?"},
      {"server.tls_verify_servers", c.server.tls_verify_servers ? "true" : "false"},
      {"server.admin_socket", c.server.admin_socket},
      {"server.loops", std::to_string(c.server.loops)},
      {"server.udp_buffer_bytes", std::to_string(c.server.udp_buffer_bytes)},
      {"server.udp_coalesce_us", std::to_string(c.server.udp_coalesce.count())},
      {"server.limits.max_message_bytes", std::to_string(c.server.limits.max_message_bytes)},
      {"server.limits.max_headers", std::to_string(c.server.limits.max_headers)},
      {"server.limits.max_header_values", std::to_string(c.server.limits.max_header_values)},
      {"server.limits.max_contacts", std::to_string(c.server.limits.max_contacts)},
      {"server.connections.idle_timeout_s", std::to_string(c.server.connections.idle_timeout.count())},
      {"server.connections.message_timeout_s", std::to_string(c.server.connections.message_timeout.count())},
      {"server.connections.max_output_bytes", std::to_string(c.server.connections.max_output_bytes)},
      {"server.limits.udp_amplification", std::to_string(c.server.udp_amplification)},
      {"server.rate_limit.requests_per_second", std::to_string(c.server.rate_limit.requests_per_second)},
      {"server.rate_limit.burst", std::to_string(c.server.rate_limit.burst)},
      {"server.rate_limit.action",
       c.server.rate_limit.action == homesip::core::RateLimitSettings::Action::kDrop ? "drop" : "503"},
      {"server.rate_limit.sources", std::to_string(c.server.rate_limit.sources)},
      {"server.rate_limit.exempt",
       c.server.rate_limit.exempt == std::vector<std::string>{"127.0.0.0/8", "::1/128"}
           ? "[127.0.0.0/8, \"::1/128\"]"
           : "?"},
      {"server.overload.max_pending", std::to_string(c.server.overload.max_pending)},
      {"server.overload.max_loop_lag_ms", std::to_string(c.server.overload.max_loop_lag.count())},
      {"server.overload.max_queue_delay_ms", std::to_string(c.server.overload.max_queue_delay.count())},
      {"server.overload.retry_after_min_s", std::to_string(c.server.overload.retry_after_min_s)},
      {"server.overload.retry_after_max_s", std::to_string(c.server.overload.retry_after_max_s)},
      {"server.http.listen", c.server.http.enabled() ? "?" : ""},
      {"server.http.token_file", c.server.http.token_file},
      {"server.http.commands",
       c.server.http.commands == std::vector<std::string>{"help", "stats", "plugins", "bindings", "*.tree",
                                                          "*.locate", "*.users", "*.user-list", "*.entities",
                                                          "*.state"}
           ? "[help, stats, plugins, bindings, \"*.tree\", \"*.locate\", \"*.users\", \"*.user-list\", "
             "\"*.entities\", \"*.state\"]"
           : "?"},
      {"log.level", c.log.level},
      {"log.sink", c.log.sink},
      {"log.format", c.log.format},
      {"log.sofia_level", std::to_string(c.log.sofia_level)},
  };
  size_t checked = 0;
  for (const auto& s : homesip::core::core_settings()) {
    if (!s.spec.default_value) continue;
    ASSERT_TRUE(loaded.count(s.spec.key)) << s.spec.key << ": add it to this test";
    EXPECT_EQ(loaded.at(s.spec.key), s.spec.default_value) << s.spec.key;
    ++checked;
  }
  EXPECT_EQ(checked, loaded.size());
}

TEST(CoreSettings, DefaultsDumpIsAValidConfigWithEveryKey) {
  const std::string text = core_defaults();
  TempDir dir;
  write_file(dir / "c.yaml", text);
  const auto c = load_config((dir / "c.yaml").string(), {});
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].text(), "udp:127.0.0.1:5060");
  const YAML::Node root = YAML::Load(text);
  for (const auto& s : homesip::core::core_settings()) {
    if (s.spec.default_value || s.required) {
      EXPECT_TRUE(has_path(root, s.spec.key)) << s.spec.key << " missing in\n" << text;
    } else {
      const std::string line = "# " + leaf_of(s.spec.key) + ": " + s.example + "\n";
      EXPECT_NE(text.find(line), std::string::npos) << line << " missing in\n" << text;
    }
  }
  for (const char* retired : {"name:", "domain:", "parent:", "contact:", "register_expires:"})
    EXPECT_EQ(text.find(std::string(" ") + retired), std::string::npos) << retired << " in\n" << text;
  EXPECT_NE(text.find("  limits:\n    # largest message"), std::string::npos) << text;
  EXPECT_NE(text.find("\nlog:\n  # trace, debug, info, warn or error\n  level: info\n"), std::string::npos)
      << text;
}

TEST(CoreSettings, DefaultsDumpTakesGivenValues) {
  std::ostringstream out;
  homesip::core::write_core_defaults(
      out, {{"server.plugin_dirs", "[/opt/p]"}, {"server.admin_socket", "/x.sock"}});
  EXPECT_NE(out.str().find("\n  plugin_dirs: [/opt/p]\n"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\n  admin_socket: /x.sock\n"), std::string::npos) << out.str();
}

// server.rate_limit, server.overload and server.limits.udp_amplification:
// read, and refused with file, line and key.
TEST(Config, FloodProtectionKeys) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "server:\n  listen: [udp:127.0.0.1:5000]\n  limits:\n    udp_amplification: 0\n  rate_limit:\n"
             "    requests_per_second: 20\n    burst: 40\n    action: 503\n    sources: 1000\n"
             "    exempt: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]\n  overload:\n    max_pending: 0\n"
             "    max_loop_lag_ms: 250\n    max_queue_delay_ms: 400\n    retry_after_min_s: 2\n"
             "    retry_after_max_s: 4\n");
  const auto c = load_config((dir / "c.yaml").string(), {});
  EXPECT_EQ(c.server.udp_amplification, 0u);
  EXPECT_EQ(c.server.rate_limit.requests_per_second, 20u);
  EXPECT_EQ(c.server.rate_limit.burst, 40u);
  EXPECT_EQ(c.server.rate_limit.action, homesip::core::RateLimitSettings::Action::kReply503);
  EXPECT_EQ(c.server.rate_limit.sources, 1000u);
  EXPECT_EQ(c.server.rate_limit.exempt,
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}));
  EXPECT_EQ(c.server.overload.max_pending, 0u);
  EXPECT_EQ(c.server.overload.max_loop_lag.count(), 250);
  EXPECT_EQ(c.server.overload.max_queue_delay.count(), 400);
  EXPECT_EQ(c.server.overload.retry_after_min_s, 2u);
  EXPECT_EQ(c.server.overload.retry_after_max_s, 4u);

  const std::string head = "server:\n  listen: [udp:127.0.0.1:5000]\n";
  EXPECT_EQ(error_of(head + "  rate_limit:\n    action: reject\n"),
            "FILE:4: server.rate_limit.action: must be drop or 503");
  EXPECT_EQ(error_of(head + "  rate_limit:\n    exempt: [10.0.0.0/33]\n"),
            "FILE:4: server.rate_limit.exempt: '10.0.0.0/33': the prefix must be 0..32");
  EXPECT_EQ(error_of(head + "  rate_limit:\n    burst: 0\n"),
            "FILE:4: server.rate_limit.burst: must be 1..1000000, not 0");
  EXPECT_EQ(error_of(head + "  rate_limit:\n    per_minute: 3\n"),
            "FILE:4: server.rate_limit.per_minute: unknown key");
  EXPECT_EQ(error_of(head + "  overload:\n    retry_after_min_s: 8\n    retry_after_max_s: 4\n"),
            "FILE:5: server.overload.retry_after_max_s: must be 8..3600, not 4");
  EXPECT_EQ(error_of(head + "  udp_coalesce_us: 2000\n  overload:\n    max_queue_delay_ms: 5\n"),
            "FILE:5: server.overload.max_queue_delay_ms: must be 0 or at least ten windows of "
            "server.udp_coalesce_us (20 ms), not 5");
  EXPECT_EQ(error_of(head + "  overload:\n    max_loop_lag_ms: 5\n"),
            "FILE:4: server.overload.max_loop_lag_ms: must be 0 or at least ten windows of "
            "server.udp_coalesce_us (40 ms), not 5");
  EXPECT_EQ(error_of(head + "  udp_coalesce_us: 0\n  overload:\n    max_loop_lag_ms: 5\n"), "no error");
  // From the command line either way; ten windows of 1050 us are 10.5 ms: 10 is too little.
  EXPECT_EQ(error_of(head + "  overload:\n    max_queue_delay_ms: 10\n", {"server.udp_coalesce_us=1050"}),
            "FILE:4: server.overload.max_queue_delay_ms: must be 0 or at least ten windows of "
            "server.udp_coalesce_us (11 ms), not 10");
  EXPECT_EQ(
      error_of(head, {"server.overload.max_loop_lag_ms=3"}),
      "--set server.overload.max_loop_lag_ms=3: server.overload.max_loop_lag_ms: must be 0 or at least ten "
      "windows of server.udp_coalesce_us (40 ms), not 3");
  EXPECT_EQ(error_of(head + "  udp_coalesce_us: 20000\n"),
            "FILE:3: server.udp_coalesce_us: must be 0..10000, not 20000");
  EXPECT_EQ(load_config((dir / "c.yaml").string(), {"server.udp_coalesce_us=0"}).server.udp_coalesce.count(),
            0);
  EXPECT_EQ(error_of(head + "  limits:\n    udp_amplification: 101\n"),
            "FILE:4: server.limits.udp_amplification: must be 0..100, not 101");
  EXPECT_EQ(error_of(head, {"server.rate_limit.requests_per_second=-1"}),
            "--set server.rate_limit.requests_per_second=-1: server.rate_limit.requests_per_second: must be "
            "0..1000000, not -1");
}

// server.http: a loopback listener may go without a token; any other needs a
// token_file only its owner reads; bad values name the line and the key.
TEST(Config, HttpKeys) {
  TempDir dir;
  const std::string head = "server:\n  listen: [udp:127.0.0.1:5000]\n  http:\n";
  write_file(dir / "c.yaml", head + "    listen: 127.0.0.1:8080\n");
  auto c = load_config((dir / "c.yaml").string(), {});
  EXPECT_TRUE(c.server.http.enabled());
  EXPECT_EQ(c.server.http.host, "127.0.0.1");
  EXPECT_EQ(c.server.http.port, 8080);
  EXPECT_TRUE(c.server.http.token.empty());
  write_file(dir / "c.yaml", head + "    listen: \"[::1]:9090\"\n");
  c = load_config((dir / "c.yaml").string(), {});
  EXPECT_EQ(c.server.http.host, "::1");
  EXPECT_EQ(c.server.http.port, 9090);

  const auto token = dir / "token";
  write_file(token, "0123456789abcdef-token\n");
  ::chmod(token.c_str(), 0400);
  write_file(dir / "c.yaml", head + "    listen: 192.0.2.1:8080\n    token_file: " + token.string() + "\n");
  c = load_config((dir / "c.yaml").string(), {});
  EXPECT_EQ(c.server.http.host, "192.0.2.1");
  EXPECT_EQ(c.server.http.token, "0123456789abcdef-token");

  EXPECT_EQ(
      error_of(head + "    listen: 0.0.0.0:8080\n"),
      "FILE:4: server.http.token_file: required: 0.0.0.0:8080 is not a loopback address, and /api/ runs "
      "admin commands");
  EXPECT_EQ(error_of(head + "    listen: localhost:8080\n"),
            "FILE:4: server.http.listen: expected IPV4:PORT or [IPV6]:PORT (an address, not a name), not "
            "'localhost:8080'");
  EXPECT_EQ(error_of(head + "    listen: 127.0.0.1:0\n"),
            "FILE:4: server.http.listen: '127.0.0.1:0': port must be 1..65535");
  EXPECT_EQ(error_of(head + "    listen: 127.0.0.1\n"),
            "FILE:4: server.http.listen: expected IPV4:PORT or [IPV6]:PORT, not '127.0.0.1'");
  EXPECT_EQ(error_of(head + "    port: 8080\n"), "FILE:4: server.http.port: unknown key");
  ::chmod(token.c_str(), 0640);
  EXPECT_EQ(error_of(head + "    token_file: " + token.string() + "\n"),
            "FILE:4: server.http.token_file: " + token.string() +
                " is open to group or others (mode 640): chmod 600 " + token.string());
  EXPECT_EQ(error_of(head + "    token_file: " + (dir / "none").string() + "\n"),
            "FILE:4: server.http.token_file: cannot read " + (dir / "none").string() +
                ": No such file or directory");
  write_file(token, "short\n");
  ::chmod(token.c_str(), 0600);
  EXPECT_EQ(
      error_of(head + "    token_file: " + token.string() + "\n"),
      "FILE:4: server.http.token_file: " + token.string() + ": the token must be at least 16 characters");
}
