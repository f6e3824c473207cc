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

#if BROKEN_KIND == 1  // built for another SDK major
extern "C" __attribute__((visibility("default"))) const homesip::PluginDescriptor*
homesip_plugin_descriptor() {
  static const homesip::PluginDescriptor d{HOMESIP_SDK_VERSION_MAJOR + 1,
                                           0,
                                           HOMESIP_SDK_TOOLCHAIN,
                                           "test-major",
                                           "1",
                                           "",
                                           nullptr,
                                           0,
                                           &create,
                                           {}};
  return &d;
}
#elif BROKEN_KIND == 2  // needs a newer SDK minor
extern "C" __attribute__((visibility("default"))) const homesip::PluginDescriptor*
homesip_plugin_descriptor() {
  static const homesip::PluginDescriptor d{HOMESIP_SDK_VERSION_MAJOR,
                                           HOMESIP_SDK_VERSION_MINOR + 1,
                                           HOMESIP_SDK_TOOLCHAIN,
                                           "test-minor",
                                           "1",
                                           "",
                                           nullptr,
                                           0,
                                           &create,
                                           {}};
  return &d;
}
#elif BROKEN_KIND == 3  // another toolchain
extern "C" __attribute__((visibility("default"))) const homesip::PluginDescriptor*
homesip_plugin_descriptor() {
  static const homesip::PluginDescriptor d{HOMESIP_SDK_VERSION_MAJOR,
                                           HOMESIP_SDK_VERSION_MINOR,
                                           "msvc-1/other",
                                           "test-toolchain",
                                           "1",
                                           "",
                                           nullptr,
                                           0,
                                           &create,
                                           {}};
  return &d;
}
#elif BROKEN_KIND == 4  // no entry point at all
extern "C" __attribute__((visibility("default"))) int some_other_symbol() { return 42; }
#elif BROKEN_KIND == 5  // the factory throws
HOMESIP_PLUGIN_NO_SETTINGS("test-throws", "1", "throws in init", Thrower)
#endif
