// The plugin host loads good plugins and refuses each kind of bad one with a
// message naming the plugin, the versions and what to do.
#include "plugin_host.hpp"

#include <gtest/gtest.h>
#include <sofia-sip/su.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "event_loop.hpp"
#include "test_support.hpp"

using namespace homesip;
using namespace homesip::core;
using homesip::test::TempDir;
using homesip::test::write_file;

namespace {

class NullRegistry final : public CapabilityRegistry {
 public:
  void add_request_handler(RequestHandler&) override { ++handlers; }
  void provide_location_store(LocationStore&, const std::string&) override {}
  LocationStore* location_store() override { return nullptr; }
  int handlers = 0;
};

std::vector<PluginEntry> entries(const std::string& plugins_yaml) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "server:\n  name: H1\n  listen: [udp:127.0.0.1:5000]\nplugins:\n" + plugins_yaml);
  return load_config((dir / "c.yaml").string(), {}).plugins;
}

std::string load_error(const std::string& plugins_yaml) {
  PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
  try {
    host.load(entries(plugins_yaml));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

}  // namespace

TEST(PluginHost, LoadsGoodPluginAndFillsDefaults) {
  PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
  host.load(entries("  - plugin: test-good\n    required_thing: x\n    count: 7\n"));
  ASSERT_EQ(host.plugins().size(), 1u);
  EXPECT_STREQ(host.plugins()[0].descriptor->version, "1.2.3");
}

TEST(PluginHost, CreatesStartsStopsAndUnloads) {
  su_init();
  {
    SofiaEventLoop loop;
    NullRegistry registry;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-good\n    required_thing: x\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    host.create(loop, ServerIdentity{"H1", "C1.D1"}, registry, log);
    host.start();
    host.stop();
    host.destroy();
    EXPECT_TRUE(host.plugins().empty());
  }
  su_deinit();
}

TEST(PluginHost, MissingFileNamesDirectories) {
  const auto e = load_error("  - plugin: no-such-plugin\n");
  expect_contains(e, "plugin 'no-such-plugin' not found");
  expect_contains(e, HOMESIP_TEST_PLUGIN_DIR);
  expect_contains(e, "c.yaml:5");
}

TEST(PluginHost, MissingEntryPoint) {
  expect_contains(load_error("  - plugin: test-noentry\n"),
                  "is not a homesip plugin (it exports no homesip_plugin_descriptor");
}

TEST(PluginHost, OtherMajorVersionIsRefusedNamingBothVersions) {
  const auto e = load_error("  - plugin: test-major\n");
  const std::string ours =
      std::to_string(HOMESIP_SDK_VERSION_MAJOR) + "." + std::to_string(HOMESIP_SDK_VERSION_MINOR);
  const std::string theirs = std::to_string(HOMESIP_SDK_VERSION_MAJOR + 1) + ".0";
  expect_contains(e, "plugin 'test-major'");
  expect_contains(e, "built for homesip SDK " + theirs);
  expect_contains(e, "this homesipd provides SDK " + ours);
}

TEST(PluginHost, NewerMinorIsRefused) {
  expect_contains(load_error("  - plugin: test-minor\n"), "newer than this homesipd's SDK");
}

TEST(PluginHost, OtherToolchainIsRefused) {
  expect_contains(load_error("  - plugin: test-toolchain\n"), "built with toolchain 'msvc-1/other'");
}

TEST(PluginHost, SettingsAreValidatedAgainstDeclarations) {
  expect_contains(load_error("  - plugin: test-good\n    required_thing: x\n    colour: red\n"),
                  "c.yaml:7: plugins[0].colour: unknown key for plugin 'test-good' (known: count, enabled, "
                  "greeting, names, required_thing)");
  expect_contains(load_error("  - plugin: test-good\n    required_thing: x\n    count: lots\n"),
                  "c.yaml:7: plugins[0].count: expected an integer, got 'lots'");
  expect_contains(load_error("  - plugin: test-good\n    required_thing: x\n    enabled: maybe\n"),
                  "plugins[0].enabled: expected true or false");
  expect_contains(load_error("  - plugin: test-good\n    required_thing: x\n    names: {a: 1}\n"),
                  "plugins[0].names: expected a list of strings");
  expect_contains(load_error("  - plugin: test-good\n"),
                  "c.yaml:5: plugins[0].required_thing: missing (must be given)");
}

TEST(PluginHost, ExceptionInInitIsReportedNotFatal) {
  su_init();
  {
    SofiaEventLoop loop;
    NullRegistry registry;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-throws\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
      host.create(loop, ServerIdentity{"H1", "C1.D1"}, registry, log);
      FAIL() << "expected PluginError";
    } catch (const PluginError& e) {
      expect_contains(e.what(), "plugin 'test-throws' failed to start: cannot open the widget bus");
    }
  }
  su_deinit();
}

TEST(PluginHost, ConfigErrorFromPluginPointsAtTheSetting) {
  su_init();
  {
    SofiaEventLoop loop;
    NullRegistry registry;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-good\n    required_thing: x\n    count: -1\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
      host.create(loop, ServerIdentity{"H1", "C1.D1"}, registry, log);
      FAIL() << "expected ConfigFileError";
    } catch (const ConfigFileError& e) {
      expect_contains(e.what(), "c.yaml:7: plugins[0].count: count must not be negative");
    }
  }
  su_deinit();
}
