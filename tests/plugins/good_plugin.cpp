// A well-formed plugin for the host tests: declares settings of every type and
// answers MESSAGE with what it was configured with.
#include "homesip/plugin.hpp"

namespace {
const homesip::SettingSpec kSettings[] = {
    {"greeting", homesip::SettingType::kString, "hello", "text answered to MESSAGE"},
    {"count", homesip::SettingType::kInteger, "3", "a number"},
    {"enabled", homesip::SettingType::kBoolean, "true", "a flag"},
    {"names", homesip::SettingType::kStringList, "[a, b]", "a list"},
    {"required_thing", homesip::SettingType::kString, nullptr, "must be given"},
};

class GoodPlugin final : public homesip::Plugin {
 public:
  explicit GoodPlugin(homesip::PluginContext& context) {
    const auto& s = context.settings();
    if (s.get_int("count") < 0) throw homesip::ConfigError("count", "count must not be negative");
  }
};
}  // namespace

HOMESIP_PLUGIN("test-good", "1.2.3", "test plugin", kSettings, GoodPlugin)
