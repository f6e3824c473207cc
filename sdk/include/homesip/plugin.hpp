// The plugin entry point. A plugin is a shared object exporting one C symbol,
// `homesip_plugin_descriptor`, that returns a plain descriptor: SDK version,
// toolchain, name, declared settings, services, commands and metrics, and a
// factory. The core reads the descriptor before it touches anything else in
// the plugin, so a plugin built for another SDK is refused with a clear
// message instead of crashing.
//
//   class Echo final : public homesip::Plugin {
//    public:
//     explicit Echo(homesip::PluginContext& context);
//   };
//   const homesip::SettingSpec kSettings[] = {{"greeting", ...}};
//   const char* const kRequires[] = {homesip::LocationStore::kServiceName};
//   HOMESIP_PLUGIN(Echo, .name = "echo", .version = "1.0.0", .summary = "Answers MESSAGE",
//                  .settings = kSettings, .requires_services = kRequires)
//
// The fields after CLASS are designated initializers of PluginDefinition, in
// its order; any may be left out except name, version and summary.
#pragma once

#include <cstddef>
#include <cstdint>

#include "homesip/admin.hpp"
#include "homesip/context.hpp"
#include "homesip/settings.hpp"
#include "homesip/version.hpp"

namespace homesip {

// One loaded capability. The host creates plugins so that every provider of a
// service exists before the plugins that require or use it (otherwise in
// config order), calls start() on all in that order once all exist, stop() in
// reverse order before destruction. All on the main loop thread.
class __attribute__((visibility("default"))) Plugin {
 public:
  virtual ~Plugin() = default;
  virtual void start() {}
  // Finish or flush what is in flight; the loops still run while stop() waits.
  virtual void stop() {}
};

// A constant array seen through a pointer and a count: how the descriptor
// holds its lists. Frozen layout.
template <class T>
struct StaticList {
  const T* items = nullptr;
  size_t count = 0;
  constexpr StaticList() = default;
  template <size_t N>
  constexpr StaticList(const T (&array)[N]) : items(array), count(N) {}
  constexpr const T* begin() const { return items; }
  constexpr const T* end() const { return items + count; }
  constexpr size_t size() const { return count; }
};

// What a plugin author declares (see HOMESIP_PLUGIN).
struct PluginDefinition {
  const char* name = nullptr;
  const char* version = nullptr;
  const char* summary = nullptr;
  StaticList<SettingSpec> settings = {};
  StaticList<const char*> provides = {};           // service names this plugin provides
  StaticList<const char*> requires_services = {};  // services it cannot run without
  StaticList<const char*> uses = {};               // services it uses when present
  StaticList<CommandSpec> commands = {};
  StaticList<MetricSpec> metrics = {};
  // Checks settings without creating the plugin (`homesipd --check-config`
  // runs it): throws ConfigError naming the key. Also run before create.
  void (*check_settings)(const Settings& settings) = nullptr;
};

extern "C" {
// Layout frozen for every SDK version from 2.0: the first nine words are those
// of SDK 1 (so the core can read an old plugin's version and refuse it), and
// new fields only go into `reserved`.
struct PluginDescriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* toolchain;
  const char* name;
  const char* version;
  const char* summary;
  StaticList<SettingSpec> settings;
  // Throws ConfigError (or any std::exception) when it cannot start.
  Plugin* (*create)(PluginContext& context);
  StaticList<const char*> provides;
  StaticList<const char*> requires_services;
  StaticList<const char*> uses;
  StaticList<CommandSpec> commands;
  StaticList<MetricSpec> metrics;
  void (*check_settings)(const Settings& settings);
  void* reserved[8];
};
}

inline constexpr PluginDescriptor make_descriptor(const PluginDefinition& d,
                                                  Plugin* (*create)(PluginContext&)) {
  return PluginDescriptor{HOMESIP_SDK_VERSION_MAJOR,
                          HOMESIP_SDK_VERSION_MINOR,
                          HOMESIP_SDK_TOOLCHAIN,
                          d.name,
                          d.version,
                          d.summary,
                          d.settings,
                          create,
                          d.provides,
                          d.requires_services,
                          d.uses,
                          d.commands,
                          d.metrics,
                          d.check_settings,
                          {}};
}

inline constexpr const char* kPluginEntrySymbol = "homesip_plugin_descriptor";

}  // namespace homesip

#define HOMESIP_PLUGIN(CLASS, ...)                                                                           \
  namespace {                                                                                                \
  ::homesip::Plugin* homesip_create_plugin(::homesip::PluginContext& context) { return new CLASS(context); } \
  }                                                                                                          \
  extern "C" __attribute__((visibility("default"))) const ::homesip::PluginDescriptor*                       \
  homesip_plugin_descriptor() {                                                                              \
    static const ::homesip::PluginDescriptor descriptor =                                                    \
        ::homesip::make_descriptor(::homesip::PluginDefinition{__VA_ARGS__}, &homesip_create_plugin);        \
    return &descriptor;                                                                                      \
  }
