// location-ldap: the server's location store and user store in an LDAP directory.
#include "homesip/homesip.hpp"
#include "homesip/timed_location_store.hpp"
#include "ldap_location_store.hpp"
#include "ldap_options.hpp"

namespace {

using homesip::location_ldap::LdapLocationStore;

const char* const kProvides[] = {homesip::LocationStore::kServiceName, homesip::UserStore::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    {"write_seconds", homesip::MetricType::kHistogram,
     "a binding update, from the registrar's request to the directory's confirmation"},
    {"lookup_seconds", homesip::MetricType::kHistogram, "a lookup of an AOR's bindings in the directory"},
};

// `homesipd --check-config` runs this: URIs, DNs, the password and TLS files
// (read as at start: a config it accepts starts), ranges.
void check_settings(const homesip::Settings& settings) { homesip::location_ldap::read_settings(settings); }

class LocationLdapPlugin final : public homesip::Plugin {
 public:
  explicit LocationLdapPlugin(homesip::PluginContext& context)
      : store_(homesip::location_ldap::read_settings(context.settings()), context.loop(), context.logger(),
               [&context]() -> homesip::EventLoop& { return context.current_loop(); }),
        timed_(store_, context.histogram("write_seconds"), context.histogram("lookup_seconds")) {
    context.provide<homesip::LocationStore>(timed_);
    context.provide<homesip::UserStore>(store_);
  }
  void stop() override { store_.stop(); }

 private:
  LdapLocationStore store_;
  homesip::TimedLocationStore timed_;  // what the registrar and the tree use: store_, timed
};

}  // namespace

HOMESIP_PLUGIN(LocationLdapPlugin, .name = "location-ldap", .version = "3.0.0",
               .summary = "Location store and user store in an LDAP directory (OpenLDAP, shared by servers)",
               .settings = homesip::location_ldap::kLocationLdapSettings, .provides = kProvides,
               .metrics = kMetrics, .check_settings = &check_settings)
