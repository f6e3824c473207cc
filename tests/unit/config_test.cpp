// Config loading: every error names the file, line and key.
#include "config.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

using homesip::core::ConfigFileError;
using homesip::core::load_config;
using homesip::test::TempDir;
using homesip::test::write_file;

namespace {

const char* kGood = R"(server:
  name: H1
  domain: C1.D1
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
  EXPECT_EQ(c.server.name, "H1");
  EXPECT_EQ(c.server.domain, "C1.D1");
  ASSERT_EQ(c.server.listen.size(), 2u);
  EXPECT_EQ(c.server.listen[1].transport, "tcp");
  EXPECT_EQ(c.server.listen[1].port, 5130);
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].name, "location-sqlite");
  EXPECT_EQ(c.plugins[0].settings["path"].as<std::string>(), "h1.sqlite");
  EXPECT_EQ(c.plugins[1].where.substr(c.plugins[1].where.rfind(':')), ":10");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\n  colour: blue\n"),
            "FILE:4: server.colour: unknown key");
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\nextra: 1\n"),
            "FILE:4: extra: unknown key");
}

TEST(Config, BadListenAddress) {
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:99999]\n"),
            "FILE:3: server.listen: 'udp:127.0.0.1:99999': port must be 1..65535");
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [sctp:127.0.0.1:5060]\n"),
            "FILE:3: server.listen: 'sctp:127.0.0.1:5060': transport must be udp, tcp or tls");
}

TEST(Config, MissingRequiredKeys) {
  EXPECT_EQ(error_of("server:\n  listen: [udp:127.0.0.1:5000]\n"),
            "FILE:2: server.name: missing (this server's name, e.g. H1)");
  EXPECT_EQ(error_of("log:\n  level: info\n"), "FILE:1: server: missing");
}

TEST(Config, BadLogLevel) {
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\nlog:\n  level: loud\n"),
            "FILE:5: log.level: must be trace, debug, info, warn or error");
}

TEST(Config, InvalidYamlNamesTheLine) {
  const auto e = error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000\n");
  EXPECT_EQ(e.rfind("FILE:", 0), 0u) << e;
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
}

TEST(Config, MissingFile) { EXPECT_THROW(load_config("/nonexistent/homesip.yaml", {}), ConfigFileError); }

TEST(Config, SetOverridesScalarsListsAndPluginSettings) {
  TempDir dir;
  write_file(dir / "c.yaml", kGood);
  const auto c = load_config(
      (dir / "c.yaml").string(),
      {"server.listen=[udp:127.0.0.1:6000]", "server.name=H7", "plugins.location-sqlite.path=/tmp/x.sqlite",
       "plugins.1.min_expires=30", "server.parent=sip:D1@127.0.0.1:5120"});
  EXPECT_EQ(c.server.name, "H7");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].port, 6000);
  EXPECT_EQ(c.plugins[0].settings["path"].as<std::string>(), "/tmp/x.sqlite");
  EXPECT_EQ(c.plugins[1].settings["min_expires"].as<int>(), 30);
  ASSERT_EQ(c.plugins[1].overridden.size(), 1u);
  EXPECT_EQ(c.plugins[1].overridden[0].second, "--set plugins.1.min_expires=30");
  EXPECT_EQ(c.server.parent.value_or(""), "sip:D1@127.0.0.1:5120");
}

TEST(Config, BadSetNamesTheOverride) {
  EXPECT_EQ(error_of(kGood, {"server.listen=[udp:127.0.0.1:0]"}),
            "--set server.listen=[udp:127.0.0.1:0]: server.listen: 'udp:127.0.0.1:0': port must be 1..65535");
  EXPECT_EQ(error_of(kGood, {"plugins.nosuch.x=1"}),
            "--set plugins.nosuch.x=1: no plugin 'nosuch' in the config");
  EXPECT_EQ(error_of(kGood, {"novalue"}), "--set novalue: expected key.path=value");
  EXPECT_EQ(error_of(kGood, {"server.colour=red"}), "--set server.colour=red: server.colour: unknown key");
}

TEST(Config, PluginEntryNeedsAName) {
  EXPECT_EQ(error_of("server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\nplugins:\n  - path: x\n"),
            "FILE:5: plugins[0].plugin: missing (the plugin's name)");
}

TEST(Config, ExampleConfigsAreValid) {
  for (const char* name : {"family.yaml", "family-ldap.yaml", "community.yaml", "province.yaml"}) {
    const auto path = homesip::test::source_dir() + "/config/examples/" + name;
    EXPECT_NO_THROW(load_config(path, {})) << path;
  }
}

TEST(Config, EmptyParentMeansTopOfTheTree) {
  TempDir dir;
  write_file(dir / "c.yaml", std::string(kGood));
  const auto c =
      load_config((dir / "c.yaml").string(), {"server.parent=sip:127.0.0.1:5110", "server.parent="});
  EXPECT_FALSE(c.server.parent.has_value());
  EXPECT_THROW(load_config((dir / "c.yaml").string(), {"server.parent=127.0.0.1"}), ConfigFileError);
}
