// The plugin entry point. A plugin is a shared object exporting one C symbol,
// `homesip_plugin_descriptor`, that returns a plain descriptor: SDK version,
// toolchain, name, declared settings and a factory. The core reads the
// descriptor before it touches anything else in the plugin, so a plugin built
// for another SDK is refused with a clear message instead of crashing.
//
//   class Echo final : public homesip::Plugin { ... };
//   static const homesip::SettingSpec kSettings[] = {{"greeting", ...}};
//   HOMESIP_PLUGIN("echo", "1.0.0", "Answers MESSAGE with an echo", kSettings, Echo)
//
// where Echo has a constructor Echo(homesip::PluginContext&).
#pragma once

#include <cstddef>
#include <cstdint>

#include "homesip/context.hpp"
#include "homesip/settings.hpp"
#include "homesip/version.hpp"

namespace homesip {

// One loaded capability. Created by the descriptor's factory once every plugin
// before it in the config exists; start() is called on all plugins in config
// order once all are created, stop() in reverse order before destruction.
class __attribute__((visibility("default"))) Plugin {
 public:
  virtual ~Plugin() = default;
  virtual void start() {}
  // Finish or flush what is in flight; the loop still runs while stop() waits.
  virtual void stop() {}
};

extern "C" {
// Layout frozen for every SDK version: new fields only go into `reserved`.
struct PluginDescriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* toolchain;
  const char* name;
  const char* version;
  const char* summary;
  const SettingSpec* settings;
  size_t settings_count;
  // Throws ConfigError (or any std::exception) when it cannot start.
  Plugin* (*create)(PluginContext& context);
  void* reserved[8];
};
}

inline constexpr const char* kPluginEntrySymbol = "homesip_plugin_descriptor";

}  // namespace homesip

// The entry point both macros below expand to.
#define HOMESIP_PLUGIN_ENTRY_(NAME, VERSION, SUMMARY, SETTINGS, SETTINGS_COUNT, CLASS)                       \
  namespace {                                                                                                \
  ::homesip::Plugin* homesip_create_plugin(::homesip::PluginContext& context) { return new CLASS(context); } \
  }                                                                                                          \
  extern "C" __attribute__((visibility("default"))) const ::homesip::PluginDescriptor*                       \
  homesip_plugin_descriptor() {                                                                              \
    static const ::homesip::PluginDescriptor descriptor{HOMESIP_SDK_VERSION_MAJOR,                           \
                                                        HOMESIP_SDK_VERSION_MINOR,                           \
                                                        HOMESIP_SDK_TOOLCHAIN,                               \
                                                        NAME,                                                \
                                                        VERSION,                                             \
                                                        SUMMARY,                                             \
                                                        SETTINGS,                                            \
                                                        SETTINGS_COUNT,                                      \
                                                        &homesip_create_plugin,                              \
                                                        {}};                                                 \
    return &descriptor;                                                                                      \
  }

#define HOMESIP_PLUGIN(NAME, VERSION, SUMMARY, SETTINGS, CLASS) \
  HOMESIP_PLUGIN_ENTRY_(NAME, VERSION, SUMMARY, SETTINGS, sizeof(SETTINGS) / sizeof(SETTINGS[0]), CLASS)

// For a plugin without settings.
#define HOMESIP_PLUGIN_NO_SETTINGS(NAME, VERSION, SUMMARY, CLASS) \
  HOMESIP_PLUGIN_ENTRY_(NAME, VERSION, SUMMARY, nullptr, 0, CLASS)
