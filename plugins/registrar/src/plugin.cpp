// The registrar plugin: settings and wiring; the logic is in registrar.cpp.
#include "homesip/plugin.hpp"

#include "registrar.hpp"

namespace {

const homesip::SettingSpec kSettings[] = {
    {"min_expires", homesip::SettingType::kInteger, "60",
     "shortest binding accepted (423 below it), seconds"},
    {"max_expires", homesip::SettingType::kInteger, "86400",
     "longer requested expiries are shortened to this"},
    {"default_expires", homesip::SettingType::kInteger, "3600", "expiry when a REGISTER gives none"},
    {"max_contacts", homesip::SettingType::kInteger, "10", "bindings one AOR may hold"},
    {"retry_after_s", homesip::SettingType::kInteger, "5", "Retry-After of a 503 when the store is down"},
    {"domains", homesip::SettingType::kStringList, "[]",
     "To-URI domains this registrar serves (empty: any); e.g. [C1.D1.H1]"},
};

uint32_t read_seconds(const homesip::Settings& s, const char* key, int64_t min, int64_t max) {
  return static_cast<uint32_t>(homesip::integer_in_range(s, key, min, max));  // max fits: at most 30 days
}

class RegistrarPlugin final : public homesip::Plugin {
 public:
  explicit RegistrarPlugin(homesip::PluginContext& context) {
    homesip::LocationStore* store = context.location_store();
    if (!store)
      throw homesip::ConfigError("plugin",
                                 "the registrar needs a location store: load a location-* plugin before it");
    const auto& s = context.settings();
    homesip::registrar::RegistrarPolicy policy;
    policy.min_expires = read_seconds(s, "min_expires", 1, 86400 * 7);
    policy.max_expires = read_seconds(s, "max_expires", policy.min_expires, 86400 * 30);
    policy.default_expires = read_seconds(s, "default_expires", policy.min_expires, policy.max_expires);
    policy.max_contacts = read_seconds(s, "max_contacts", 1, 1000);
    registrar_.emplace(*store, context.logger(), policy, s.get_string_list("domains"),
                       read_seconds(s, "retry_after_s", 1, 3600));
    context.add_request_handler(*registrar_);
  }

 private:
  std::optional<homesip::registrar::Registrar> registrar_;
};

}  // namespace

HOMESIP_PLUGIN("registrar", "1.0.0", "RFC 3261 registrar writing through the location store", kSettings,
               RegistrarPlugin)
