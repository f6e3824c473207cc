// A well-formed plugin for the host tests: declares settings of every type and
// checks one of them before it is created (check_settings).
#include "homesip/plugin.hpp"

namespace {
const homesip::SettingSpec kSettings[] = {
    {"greeting", homesip::SettingType::kString, "hello", "text answered to MESSAGE"},
    {"count", homesip::SettingType::kInteger, "3", "a number"},
    {"enabled", homesip::SettingType::kBoolean, "true", "a flag"},
    {"names", homesip::SettingType::kStringList, "[a, b]", "a list"},
    {"required_thing", homesip::SettingType::kString, nullptr, "must be given"},
};

void check(const homesip::Settings& s) {
  if (s.get_string("greeting") == "forbidden")
    throw homesip::ConfigError("greeting", "greeting must not be forbidden");
}

class GoodPlugin final : public homesip::Plugin {
 public:
  explicit GoodPlugin(homesip::PluginContext& context) {
    const auto& s = context.settings();
    if (s.get_int("count") < 0) throw homesip::ConfigError("count", "count must not be negative");
  }
};
}  // namespace

HOMESIP_PLUGIN(GoodPlugin, .name = "test-good", .version = "1.2.3", .summary = "test plugin",
               .settings = kSettings, .check_settings = &check)
