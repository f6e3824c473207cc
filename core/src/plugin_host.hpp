// Loads plugins (Boost.DLL), checks their SDK version, validates their
// settings against what they declare, keeps the registry of the services they
// provide, binds their commands and metrics, and owns their lifetime: each
// plugin object is destroyed before the library it came from is unloaded.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "homesip/context.hpp"
#include "homesip/plugin.hpp"
#include "request_chain.hpp"

namespace homesip::core {

// A plugin could not be loaded or started; the message names the plugin,
// where the config asked for it, and what to do.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the core lends every plugin besides its settings, logger and loop:
// the chain its handlers join and the SIP client its requests go out with.
struct CoreFacilities {
  RequestChain& chain;
  SipClient& client;
};

// A command a plugin declared, and the code it bound to it (none: the plugin
// never called on_command for it, and the command answers an error).
struct PluginCommand {
  const CommandSpec* spec = nullptr;
  CommandHandler handler;
};

// A metric a plugin declared; the core owns the value, so its address is
// stable for as long as the plugin lives.
struct PluginMetric {
  explicit PluginMetric(const MetricSpec* s) : spec(s) {}
  const MetricSpec* spec;
  std::atomic<uint64_t> count{0};  // a counter's value
  std::atomic<int64_t> level{0};   // a gauge's value
  HistogramValues histogram;       // a histogram's values
};

// A path a plugin serves on the HTTP listener (PluginContext::on_http).
struct PluginHttpRoute {
  std::string path;    // "/status", or "/status/" for everything under it
  std::string plugin;  // who claimed it, for the refusal of a second claim
  HttpHandler handler;
};

class SettingsImpl;
class PluginContextImpl;

struct LoadedPlugin {
  std::string name;
  std::string path;
  std::string where;  // its config entry, "family.yaml:14: plugins[1]", for refusals of the set
  std::shared_ptr<boost::dll::shared_library> library;
  const PluginDescriptor* descriptor = nullptr;
  std::unique_ptr<SettingsImpl> settings;
  std::unique_ptr<PluginContextImpl> context;
  std::unique_ptr<Plugin> instance;
  std::vector<PluginCommand> commands;  // one per declared command, in declared order
  std::deque<PluginMetric> metrics;     // one per declared metric; a deque keeps addresses
  LoadedPlugin();
  LoadedPlugin(LoadedPlugin&&) noexcept;
  ~LoadedPlugin();
};

// A plugin's library opened only to read its descriptor (--describe-plugin,
// --dump-default); nothing is created.
struct PluginInfo {
  std::string name;
  std::string path;
  std::shared_ptr<boost::dll::shared_library> library;  // keeps `descriptor` valid
  const PluginDescriptor* descriptor = nullptr;
};

class PluginHost {
 public:
  PluginHost(std::vector<std::string> search_dirs, std::string config_file);
  ~PluginHost();

  // Loads every plugin's library, validates its settings (and runs its
  // check_settings), and checks the services they declare: one provider per
  // service, a provider for every required one, no cycle. Creates nothing.
  // Throws PluginError or ConfigFileError.
  void load(const std::vector<PluginEntry>& entries);
  // Creates the plugins, providers before the plugins that require or use
  // their services, otherwise in config order. `listeners` (the config's
  // server.listen, which must outlive the plugins) is what contact_uri() and
  // addresses_me() answer from. Throws PluginError.
  void create(EventLoop& loop, const std::vector<ListenAddress>& listeners, CoreFacilities core,
              const std::shared_ptr<spdlog::logger>& base_logger);
  void start();    // in creation order
  void stop();     // reverse creation order; idempotent
  void destroy();  // reverse creation order: objects first, then libraries

  // In config order.
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  std::vector<LoadedPlugin>& plugins() { return plugins_; }
  // Indexes into plugins(), in the order they are created.
  const std::vector<size_t>& creation_order() const { return creation_order_; }
  // What plugins serve on the HTTP listener, in the order they claimed it.
  const std::vector<PluginHttpRoute>& http_routes() const { return http_routes_; }
  // The service `name` a created plugin provides, or nullptr.
  void* service(std::string_view name) const;
  // The plugin that provides service `name`, or "".
  std::string provider(std::string_view name) const;
  std::string find(const std::string& name) const;
  // Opens plugin `name` and checks its descriptor. Throws PluginError.
  PluginInfo inspect(const std::string& name) const;
  // The name of every NAME.so in the search dirs, sorted, each once.
  std::vector<std::string> available() const;

  // Directories searched when the config names none: next to the binary
  // (../lib/homesip/plugins) and the install prefix.
  static std::vector<std::string> default_dirs();

 private:
  std::vector<std::string> dirs_;
  std::string config_file_;
  struct Service {
    std::string provider;
    void* instance = nullptr;  // set when the provider calls provide_service
  };
  friend class PluginContextImpl;
  void run_check_settings(const LoadedPlugin& plugin) const;
  std::string where_of_key(const LoadedPlugin& plugin, const std::string& key) const;
  void check_services();
  void order_creation();
  // Plugins found in the search dirs that provide `service`, for error messages.
  std::vector<std::string> providers_available(const std::string& service) const;

  std::vector<LoadedPlugin> plugins_;
  std::vector<size_t> creation_order_;
  std::vector<PluginHttpRoute> http_routes_;
  std::map<std::string, Service, std::less<>> services_;
  bool started_ = false;
};

// The descriptor check alone, for tests and `--describe-plugin`.
void check_descriptor(const PluginDescriptor& d, const std::string& name, const std::string& path);

}  // namespace homesip::core
