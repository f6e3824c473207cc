// Loads plugins (Boost.DLL), checks their SDK version, validates their
// settings against what they declare, and owns their lifetime: each plugin
// object is destroyed before the library it came from is unloaded.
#pragma once

#include <spdlog/logger.h>

#include <boost/dll/shared_library.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.hpp"
#include "homesip/context.hpp"
#include "homesip/plugin.hpp"

namespace homesip::core {

// A plugin could not be loaded or started; the message names the plugin,
// where the config asked for it, and what to do.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What plugins can register with the core (the SIP server implements it).
class CapabilityRegistry {
 public:
  virtual ~CapabilityRegistry() = default;
  virtual void add_request_handler(RequestHandler& handler) = 0;
  virtual void provide_location_store(LocationStore& store, const std::string& plugin) = 0;
  virtual LocationStore* location_store() = 0;
};

class SettingsImpl;
class PluginContextImpl;

struct LoadedPlugin {
  std::string name;
  std::string path;
  std::shared_ptr<boost::dll::shared_library> library;
  const PluginDescriptor* descriptor = nullptr;
  std::unique_ptr<SettingsImpl> settings;
  std::unique_ptr<PluginContextImpl> context;
  std::unique_ptr<Plugin> instance;
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

  // Loads every plugin's library and validates its settings; creates nothing.
  void load(const std::vector<PluginEntry>& entries);
  // Creates the plugins in config order. Throws PluginError.
  void create(EventLoop& loop, const ServerIdentity& identity, CapabilityRegistry& registry,
              const std::shared_ptr<spdlog::logger>& base_logger);
  void start();
  void stop();     // reverse order; idempotent
  void destroy();  // reverse order: objects first, then libraries

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
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
  std::vector<LoadedPlugin> plugins_;
  bool started_ = false;
};

// The descriptor check alone, for tests and `--describe-plugin`.
void check_descriptor(const PluginDescriptor& d, const std::string& name, const std::string& path);

}  // namespace homesip::core
