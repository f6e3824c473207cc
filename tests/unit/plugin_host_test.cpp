// The plugin host loads good plugins and refuses each kind of bad one with a
// message naming the plugin, the versions and what to do.
#include "plugin_host.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sofia-sip/su.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <sstream>

#include "event_loop.hpp"
#include "homesip/location_store.hpp"
#include "listen_address.hpp"
#include "test_support.hpp"

using namespace homesip;
using namespace homesip::core;
using homesip::test::TempDir;
using homesip::test::write_file;

namespace {

// The listeners contact_uri() and addresses_me() answer from.
const std::vector<ListenAddress>& listeners() {
  static const std::vector<ListenAddress> kListeners{parse_listen_address("udp:127.0.0.1:5130"),
                                                     parse_listen_address("tcp:127.0.0.1:5131")};
  return kListeners;
}

// What the host lends plugins: a chain and a client that sends nothing.
class NoClient final : public SipClient {
 public:
  std::unique_ptr<ClientTransaction> send(const OutgoingRequest&, ResponseDone) override {
    throw std::logic_error("no client in this test");
  }
};

struct Facilities {
  RequestChain chain{
      std::make_shared<spdlog::logger>("chain", std::make_shared<spdlog::sinks::null_sink_mt>())};
  NoClient client;
  CoreFacilities get() { return CoreFacilities{chain, client}; }
};

std::vector<PluginEntry> entries(const std::string& plugins_yaml) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "server:\n  admin_socket: \"\"\n  listen: [udp:127.0.0.1:5000]\nplugins:\n" + plugins_yaml);
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

// True while the shared object at `path` is mapped into this process
// (RTLD_NOLOAD loads nothing; it only finds an object already loaded).
bool is_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

// A logger whose lines ("<plugin>: <message>") end up in `out`.
std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out) {
  auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  log->set_pattern("%n: %v");
  return log;
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
    Facilities core;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-good\n    required_thing: x\n"));
    ASSERT_EQ(host.plugins().size(), 1u);
    const std::string library = host.plugins()[0].path;
    EXPECT_EQ(library, std::string(HOMESIP_TEST_PLUGIN_DIR) + "/test-good.so");
    EXPECT_TRUE(is_loaded(library));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    host.create(loop, listeners(), core.get(), log);
    EXPECT_NE(host.plugins()[0].instance, nullptr);
    host.start();
    host.stop();
    EXPECT_TRUE(is_loaded(library)) << "stop() must leave the plugin's code in place";
    host.destroy();
    EXPECT_TRUE(host.plugins().empty());
    EXPECT_FALSE(is_loaded(library)) << "destroy() left " << library << " loaded";
  }
  su_deinit();
}

// stop() flushes: location-sqlite, found through the service registry,
// confirms a write submitted before stop() once the loop turns, and a fresh
// host reads it back from the file.
TEST(PluginHost, StopFlushesTheStoreFoundThroughTheRegistry) {
  const std::string store_plugin = homesip::test::plugin_dir() + "/location-sqlite.so";
  ASSERT_TRUE(std::filesystem::exists(store_plugin)) << store_plugin << " is missing: build location-sqlite";
  TempDir dir;
  const std::string file = (dir / "first.sqlite").string();
  su_init();
  {
    SofiaEventLoop loop;
    Facilities core;
    std::ostringstream out;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR, homesip::test::plugin_dir()}, "c.yaml");
    host.load(entries("  - plugin: location-sqlite\n    path: " + file + "\n"));
    host.create(loop, listeners(), core.get(), logger_into(out));
    auto* store = static_cast<LocationStore*>(host.service(LocationStore::kServiceName));
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(host.provider(LocationStore::kServiceName), "location-sqlite");
    host.start();
    bool confirmed = false;
    store->update(
        "U1@C1.D1.H1",
        [](BindingList& bindings) {
          Binding b;
          b.contact = "sip:U1@127.0.0.1:5999";
          b.expires_at = std::time(nullptr) + 3600;
          bindings.push_back(b);
          return true;
        },
        [&](StoreStatus status, const BindingList&) { confirmed = status == StoreStatus::kOk; });
    host.stop();
    EXPECT_TRUE(loop.run_until([&] { return confirmed; }, std::chrono::seconds(5)));
    host.destroy();
    EXPECT_TRUE(host.plugins().empty());
    EXPECT_EQ(host.service(LocationStore::kServiceName), nullptr);

    std::ostringstream reopened;
    PluginHost again({homesip::test::plugin_dir()}, "c.yaml");
    again.load(entries("  - plugin: location-sqlite\n    path: " + file + "\n"));
    Facilities core_again;
    again.create(loop, listeners(), core_again.get(), logger_into(reopened));
    expect_contains(reopened.str(), "location-sqlite: location store " + file + ": 1 bindings of 1 AORs");
    again.stop();
    loop.run_until([] { return false; }, std::chrono::milliseconds(200));
    again.destroy();
  }
  su_deinit();
}

// The requirer comes first in the config; its provider is created (and
// started) before it and stopped after it.
TEST(PluginHost, CreationOrderFollowsServicesNotConfigOrder) {
  su_init();
  {
    SofiaEventLoop loop;
    Facilities core;
    std::ostringstream out;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-requirer\n  - plugin: test-provider\n"));
    ASSERT_EQ(host.plugins().size(), 2u);
    EXPECT_EQ(host.plugins()[0].name, "test-requirer");  // plugins() keeps config order
    EXPECT_EQ(host.creation_order(), (std::vector<size_t>{1, 0}));
    host.create(loop, listeners(), core.get(), logger_into(out));
    host.start();
    host.stop();
    host.destroy();
    EXPECT_EQ(out.str(),
              "test-provider: created\n"
              "test-requirer: created\n"
              "test-requirer: found echo:provider\n"
              "test-provider: started\n"
              "test-requirer: started\n"
              "test-requirer: stopped\n"
              "test-provider: stopped\n");
  }
  su_deinit();
}

TEST(PluginHost, TwoProvidersOfOneServiceAreRefusedNamingBoth) {
  const std::string e = load_error("  - plugin: test-provider\n  - plugin: test-provider-too\n");
  // Named at the second provider's entry: the one to remove or replace.
  expect_contains(e,
                  "c.yaml:6: plugins[1]: plugins 'test-provider' and 'test-provider-too' both provide "
                  "test.echo/1: load only one of them");
}

TEST(PluginHost, MissingRequiredServiceIsRefusedNamingPluginServiceAndProviders) {
  const std::string e = load_error("  - plugin: test-requirer\n");
  // The plugins in the search dir that provide it are suggested.
  expect_contains(e,
                  "c.yaml:5: plugins[0]: plugin 'test-requirer' requires test.echo/1, which no loaded plugin "
                  "provides: add ");
  expect_contains(e, "test-provider");
  expect_contains(e, "test-cycle-b");
  expect_contains(e, " to plugins");
}

TEST(PluginHost, ACycleOfServicesIsRefused) {
  EXPECT_EQ(load_error("  - plugin: test-cycle-a\n  - plugin: test-cycle-b\n"),
            "plugins 'test-cycle-a', 'test-cycle-b' need each other's services (a cycle): none can be "
            "created first");
}

// Each misuse of the context makes the plugin fail to start, naming what it misused.
TEST(PluginHost, UndeclaredServiceCommandOrMetricThrows) {
  const std::pair<std::string, std::string> cases[] = {
      {"provide", "provides test.other/1, which its descriptor does not list in provides"},
      {"find", "asks for service test.other/1, which its descriptor lists neither"},
      {"command", "binds command 'undeclared', which its descriptor does not declare"},
      {"counter", "asks for counter 'undeclared_total', which its descriptor does not declare"},
      {"gauge", "asks for gauge 'real_total', which its descriptor does not declare"},
  };
  su_init();
  for (const auto& [misuse, message] : cases) {
    SofiaEventLoop loop;
    Facilities core;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-provider\n  - plugin: test-requirer\n    misuse: " + misuse + "\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    std::string error = "no error";
    try {
      host.create(loop, listeners(), core.get(), log);
    } catch (const PluginError& e) {
      error = e.what();
    }
    expect_contains(error, "plugin 'test-requirer' failed to start: plugin 'test-requirer' " + message);
    host.destroy();
  }
  su_deinit();
}

// The core serves /metrics and /api/ itself, and a path has one owner.
TEST(PluginHost, HttpClaimsOfTheCoresPathsOrATakenOneAreRefused) {
  const std::pair<std::string, std::string> cases[] = {
      {"/metrics", "claims HTTP path '/metrics', which the core serves itself"},
      {"/api/", "claims HTTP path '/api/', which the core serves itself"},
      {"/api/stats", "claims HTTP path '/api/stats', which the core serves itself"},
      {"/hello", "claims HTTP path '/hello', which plugin 'test-http' serves"},
      {"hello", "serves HTTP path 'hello', which does not start with '/'"},
  };
  su_init();
  for (const auto& [claim, message] : cases) {
    SofiaEventLoop loop;
    Facilities core;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-http\n    claim: \"" + claim + "\"\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    std::string error = "no error";
    try {
      host.create(loop, listeners(), core.get(), log);
    } catch (const PluginError& e) {
      error = e.what();
    }
    expect_contains(error, "plugin 'test-http' failed to start: plugin 'test-http' " + message);
    host.destroy();
  }
  su_deinit();
}

TEST(PluginHost, CheckSettingsRunsWhenSettingsAreValidated) {
  expect_contains(load_error("  - plugin: test-good\n    required_thing: x\n    greeting: forbidden\n"),
                  "c.yaml:7: plugins[0].greeting: greeting must not be forbidden");
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
  const std::string theirs = "1.3";  // an SDK 1 plugin (its descriptor has SDK 1's layout)
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
    Facilities core;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-throws\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
      host.create(loop, listeners(), core.get(), log);
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
    Facilities core;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-good\n    required_thing: x\n    count: -1\n"));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    try {
      host.create(loop, listeners(), core.get(), log);
      FAIL() << "expected ConfigFileError";
    } catch (const ConfigFileError& e) {
      expect_contains(e.what(), "c.yaml:7: plugins[0].count: count must not be negative");
    }
  }
  su_deinit();
}

// addresses_me(): host as written and port (5060 absent, 5061 for sips:) of
// any listener, whatever the transport.
TEST(AddressesListener, MatchesHostAndPortOfAnyListener) {
  const auto uri = [](const char* text) { return *parse_uri(text); };
  EXPECT_TRUE(addresses_listener(listeners(), uri("sip:127.0.0.1:5130")));
  EXPECT_TRUE(addresses_listener(listeners(), uri("sip:D1@127.0.0.1:5131;transport=tcp")));
  EXPECT_FALSE(addresses_listener(listeners(), uri("sip:127.0.0.1:5132")));
  EXPECT_FALSE(addresses_listener(listeners(), uri("sip:127.0.0.2:5130")));
  EXPECT_FALSE(addresses_listener(listeners(), uri("sip:H1@C1.D1")));
  const std::vector<ListenAddress> standard{parse_listen_address("udp:LocalHost:5060"),
                                            parse_listen_address("tls:[::1]:5061")};
  EXPECT_TRUE(addresses_listener(standard, uri("sip:localhost")));
  EXPECT_TRUE(addresses_listener(standard, uri("sips:u@[::1]")));
  EXPECT_FALSE(addresses_listener(standard, uri("sip:[::1]")));
}
