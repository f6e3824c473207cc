// location-ldap: the server's location store and user store in an LDAP directory.
#include <chrono>
#include <memory>

#include "homesip/homesip.hpp"
#include "homesip/timed_location_store.hpp"
#include "ldap_location_store.hpp"
#include "ldap_options.hpp"

namespace {

using homesip::location_ldap::LdapLocationStore;

const char* const kProvides[] = {homesip::LocationStore::kServiceName, homesip::UserStore::kServiceName};
const homesip::MetricSpec kMetrics[] = {
    // location-sqlite's gauge, of the directory: every server sharing it counts the same AORs.
    {"aors", homesip::MetricType::kGauge,
     "AORs holding unexpired bindings in the directory, of every domain (counted every 5 s)"},
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
        timed_(store_, context.histogram("write_seconds"), context.histogram("lookup_seconds")),
        aors_(context.gauge("aors")) {
    context.provide<homesip::LocationStore>(timed_);
    context.provide<homesip::UserStore>(store_);
    count_aors();
    gauge_timer_ = context.loop().start_timer(std::chrono::seconds(5), true, [this] { count_aors(); });
  }
  void stop() override {
    gauge_timer_.reset();
    store_.stop();
  }

 private:
  // Asked of the directory on the store's worker, behind the requests
  // queued; the gauge keeps its last value while the directory is down.
  void count_aors() {
    store_.count_aors([aors = aors_](size_t count) { aors.set(static_cast<int64_t>(count)); });
  }

  LdapLocationStore store_;
  homesip::TimedLocationStore timed_;  // what the registrar and the tree use: store_, timed
  homesip::Gauge aors_;
  std::unique_ptr<homesip::Timer> gauge_timer_;
};

}  // namespace

HOMESIP_PLUGIN(LocationLdapPlugin, .name = "location-ldap", .version = "3.0.0",
               .summary = "Location store and user store in an LDAP directory (OpenLDAP, shared by servers)",
               .settings = homesip::location_ldap::kLocationLdapSettings, .provides = kProvides,
               .metrics = kMetrics, .check_settings = &check_settings)
