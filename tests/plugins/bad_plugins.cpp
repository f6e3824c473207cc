// Deliberately broken plugins, one per failure the host must report clearly.
// Which one is built is chosen by BROKEN_KIND.
#include <stdexcept>

#include "homesip/plugin.hpp"

namespace {
class Thrower final : public homesip::Plugin {
 public:
  explicit Thrower(homesip::PluginContext&) { throw std::runtime_error("cannot open the widget bus"); }
};

[[maybe_unused]] homesip::Plugin* create(homesip::PluginContext& c) { return new Thrower(c); }
}  // namespace

#if BROKEN_KIND == 1  // built for SDK 1: its descriptor has SDK 1's layout (the first nine words SDK 2 keeps)
struct Sdk1Descriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* toolchain;
  const char* name;
  const char* version;
  const char* summary;
  const homesip::SettingSpec* settings;
  size_t settings_count;
  homesip::Plugin* (*create)(homesip::PluginContext& context);
};
extern "C" __attribute__((visibility("default"))) const Sdk1Descriptor* homesip_plugin_descriptor() {
  static const Sdk1Descriptor d{1, 3, HOMESIP_SDK_TOOLCHAIN, "test-major", "1", "", nullptr, 0, &create};
  return &d;
}
#elif BROKEN_KIND == 2  // needs a newer SDK minor
extern "C" __attribute__((visibility("default"))) const homesip::PluginDescriptor*
homesip_plugin_descriptor() {
  static homesip::PluginDescriptor d =
      homesip::make_descriptor({.name = "test-minor", .version = "1", .summary = ""}, &create);
  d.abi_minor = HOMESIP_SDK_VERSION_MINOR + 1;
  return &d;
}
#elif BROKEN_KIND == 3  // another toolchain
extern "C" __attribute__((visibility("default"))) const homesip::PluginDescriptor*
homesip_plugin_descriptor() {
  static homesip::PluginDescriptor d =
      homesip::make_descriptor({.name = "test-toolchain", .version = "1", .summary = ""}, &create);
  d.toolchain = "msvc-1/other";
  return &d;
}
#elif BROKEN_KIND == 4  // no entry point at all
extern "C" __attribute__((visibility("default"))) int some_other_symbol() { return 42; }
#elif BROKEN_KIND == 5  // the factory throws
HOMESIP_PLUGIN(Thrower, .name = "test-throws", .version = "1", .summary = "throws in init")
#endif
