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

// True while the shared object at `path` is mapped into this process
// (RTLD_NOLOAD loads nothing; it only finds an object already loaded).
bool is_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

// Keeps the location stores plugins provide, in the order they were provided.
class StoreRegistry final : public CapabilityRegistry {
 public:
  void add_request_handler(RequestHandler&) override {}
  void provide_location_store(LocationStore& store, const std::string&) override { stores.push_back(&store); }
  LocationStore* location_store() override { return stores.empty() ? nullptr : stores.front(); }
  std::vector<LocationStore*> stores;
};

// Where in `log` the first line starting with `start` and containing `part` is (npos: none).
size_t line_at(const std::string& log, const std::string& start, const std::string& part) {
  for (size_t at = log.find(start); at != std::string::npos; at = log.find(start, at + 1)) {
    const size_t end = log.find('\n', at);
    if ((at == 0 || log[at - 1] == '\n') && log.substr(at, end - at).find(part) != std::string::npos)
      return at;
  }
  return std::string::npos;
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
    NullRegistry registry;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR}, "c.yaml");
    host.load(entries("  - plugin: test-good\n    required_thing: x\n"));
    ASSERT_EQ(host.plugins().size(), 1u);
    const std::string library = host.plugins()[0].path;
    EXPECT_EQ(library, std::string(HOMESIP_TEST_PLUGIN_DIR) + "/test-good.so");
    EXPECT_TRUE(is_loaded(library));
    auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
    host.create(loop, ServerIdentity{"H1", "C1.D1"}, registry, log);
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

// The order is seen in what the plugins do: location-sqlite logs its write
// counts when it stops. Two of them, each with its own file: the second in
// the config stops first. The write submitted before stop() is on disk after.
TEST(PluginHost, StopsInReverseOrderAndStopFlushes) {
  const std::string store_plugin = homesip::test::plugin_dir() + "/location-sqlite.so";
  ASSERT_TRUE(std::filesystem::exists(store_plugin)) << store_plugin << " is missing: build location-sqlite";
  TempDir dir;
  const std::string first = (dir / "first.sqlite").string();
  const std::string second = (dir / "second.sqlite").string();
  su_init();
  {
    SofiaEventLoop loop;
    StoreRegistry registry;
    std::ostringstream out;
    PluginHost host({HOMESIP_TEST_PLUGIN_DIR, homesip::test::plugin_dir()}, "c.yaml");
    host.load(entries("  - plugin: location-sqlite\n    path: " + first +
                      "\n  - plugin: location-sqlite\n    path: " + second + "\n"));
    host.create(loop, ServerIdentity{"H1", "C1.D1"}, registry, logger_into(out));
    ASSERT_EQ(registry.stores.size(), 2u);
    host.start();
    // Not confirmed before stop(): the loop does not run until then.
    bool confirmed = false;
    registry.stores[0]->update(
        "U1@C1.D1.H1",
        [](BindingList& bindings) {
          Binding b;
          b.contact = "sip:U1@127.0.0.1:5999";
          b.expires_at = std::time(nullptr) + 3600;
          bindings.push_back(b);
          return true;
        },
        [&](StoreStatus status, const BindingList&) { confirmed = status == StoreStatus::kOk; });
    // "location-sqlite: location store <path>: N writes in M transactions, F failed" when it stops.
    const std::string store = "location-sqlite: location store ";
    const std::string writes = " writes in ";
    EXPECT_EQ(line_at(out.str(), store, writes), std::string::npos) << "a store stopped early:\n"
                                                                    << out.str();
    host.stop();
    const std::string log = out.str();
    const auto second_stopped = line_at(log, store + second + ": ", writes);
    const auto first_stopped = line_at(log, store + first + ": ", writes);
    ASSERT_NE(second_stopped, std::string::npos) << "the second plugin was not stopped:\n" << log;
    ASSERT_NE(first_stopped, std::string::npos) << "the first plugin was not stopped:\n" << log;
    EXPECT_LT(second_stopped, first_stopped) << "not stopped in reverse config order:\n" << log;
    // Deliver the confirmations before the code they run is unloaded.
    EXPECT_TRUE(loop.run_until([&] { return confirmed; }, std::chrono::seconds(5)));
    host.destroy();  // (location-sqlite.so itself stays mapped: its STB_GNU_UNIQUE symbols make it NODELETE)
    EXPECT_TRUE(host.plugins().empty());

    // A fresh host finds the binding in the first file: stop() really flushed it.
    std::ostringstream reopened;
    PluginHost again({homesip::test::plugin_dir()}, "c.yaml");
    again.load(entries("  - plugin: location-sqlite\n    path: " + first + "\n"));
    StoreRegistry registry_again;
    again.create(loop, ServerIdentity{"H1", "C1.D1"}, registry_again, logger_into(reopened));
    expect_contains(reopened.str(), store + first + ": 1 bindings of 1 AORs loaded");
    again.stop();
    loop.run_until([] { return false; }, std::chrono::milliseconds(200));
    again.destroy();
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
