// The registrar plugin: settings, descriptor and wiring; the logic is in registrar.cpp.
#include "homesip/plugin.hpp"

#include <optional>
#include <string>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/tree.hpp"
#include "homesip/uri.hpp"
#include "registrar.hpp"

namespace {

using homesip::registrar::Registrar;
using homesip::registrar::RegistrarPolicy;

const homesip::SettingSpec kSettings[] = {
    {"min_expires", homesip::SettingType::kInteger, "60",
     "shortest binding accepted (423 below it), seconds"},
    {"max_expires", homesip::SettingType::kInteger, "86400",
     "longer requested expiries are shortened to this"},
    {"default_expires", homesip::SettingType::kInteger, "3600", "expiry when a REGISTER gives none"},
    {"max_bindings_per_aor", homesip::SettingType::kInteger, "10",
     "bindings one AOR may hold, 1..1000 (a new one beyond: 403 Too Many Registered Contacts; refreshes "
     "pass)"},
    {"max_contact_bytes", homesip::SettingType::kInteger, "512",
     "longest Contact URI (with its +sip.instance) bound, 64..8192 (400 beyond)"},
    {"retry_after_s", homesip::SettingType::kInteger, "5", "Retry-After of a 503 when the store is down"},
    {"domains", homesip::SettingType::kStringList, "[]",
     "To-URI domains this registrar serves (empty: any); only without the tree plugin, which "
     "derives it (its child domain, e.g. C1.D1.H1)"},
};
const char* const kRequires[] = {homesip::LocationStore::kServiceName};
const char* const kUses[] = {homesip::TreeService::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    {"registrations_total", homesip::MetricType::kCounter,
     "REGISTERs that added or refreshed bindings (200)"},
    {"unregistrations_total", homesip::MetricType::kCounter, "REGISTERs that removed bindings (200)"},
    {"rejected_total", homesip::MetricType::kCounter, "REGISTERs the registrar answered with a failure"},
};

uint32_t read_seconds(const homesip::Settings& s, const char* key, int64_t min, int64_t max) {
  return static_cast<uint32_t>(homesip::integer_in_range(s, key, min, max));  // max fits: at most 30 days
}

RegistrarPolicy read_policy(const homesip::Settings& s) {
  RegistrarPolicy policy;
  policy.min_expires = read_seconds(s, "min_expires", 1, 86400 * 7);
  policy.max_expires = read_seconds(s, "max_expires", policy.min_expires, 86400 * 30);
  policy.default_expires = read_seconds(s, "default_expires", policy.min_expires, policy.max_expires);
  policy.max_bindings_per_aor =
      static_cast<uint32_t>(homesip::integer_in_range(s, "max_bindings_per_aor", 1, 1000));
  policy.max_contact_bytes =
      static_cast<uint32_t>(homesip::integer_in_range(s, "max_contact_bytes", 64, 8192));
  return policy;
}

uint32_t read_retry_after(const homesip::Settings& s) { return read_seconds(s, "retry_after_s", 1, 3600); }

// The domains served: in a tree, the one the tree says (a second place in the
// config saying it could only disagree); without a tree, the setting.
std::vector<std::string> served_domains(homesip::PluginContext& context) {
  std::vector<std::string> configured = context.settings().get_string_list("domains");
  const auto* tree = context.find<homesip::TreeService>();
  if (!tree) return configured;
  const std::string derived = tree->self().child_domain();
  if (!configured.empty())
    throw homesip::ConfigError(
        "domains", "domains is derived from the tree plugin (" + derived + "): remove registrar.domains");
  return {derived};
}

// Each of `domains` a host name (the To-URI's host it is compared with);
// none with the tree plugin, which gives the domain (served_domains()).
void check_domains(const homesip::Settings& s) {
  const std::vector<std::string> domains = s.get_string_list("domains");
  for (const std::string& domain : domains) {
    const std::string text = "sip:" + domain;  // the URI's views point into it
    const auto uri = homesip::parse_uri(text);
    if (!uri || uri->host != domain)
      throw homesip::ConfigError("domains", "domains: '" + domain + "' is not a domain such as C1.D1.H1");
  }
  if (!domains.empty() && s.service_loaded(homesip::TreeService::kServiceName).value_or(false))
    throw homesip::ConfigError("domains",
                               "domains is derived from the tree plugin (its child domain): remove "
                               "registrar.domains");
}

// `homesipd --check-config` runs this: every range the constructor relies on.
void check_settings(const homesip::Settings& s) {
  read_policy(s);
  read_retry_after(s);
  check_domains(s);
}

class RegistrarPlugin final : public homesip::Plugin {
 public:
  explicit RegistrarPlugin(homesip::PluginContext& context) {
    const auto& s = context.settings();
    homesip::registrar::RegistrarMetrics metrics{context.counter("registrations_total"),
                                                 context.counter("unregistrations_total"),
                                                 context.counter("rejected_total")};
    registrar_.emplace(context.require<homesip::LocationStore>(), context.logger(), read_policy(s),
                       served_domains(context), read_retry_after(s), metrics);
    context.add_request_handler(*registrar_, {homesip::Phase::kRegistrar, 0, "registrar"});
  }

 private:
  std::optional<Registrar> registrar_;
};

}  // namespace

HOMESIP_PLUGIN(RegistrarPlugin, .name = "registrar", .version = "3.0.0",
               .summary = "RFC 3261 registrar writing through the location store", .settings = kSettings,
               .requires_services = kRequires, .uses = kUses, .metrics = kMetrics,
               .check_settings = &check_settings)
