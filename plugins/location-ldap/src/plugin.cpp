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
    gauge_timer_ = context.loop().start_timer(std::chrono::seconds(30), true, [this] { count_aors(); });
  }
  void stop() override {
    gauge_timer_.reset();
    store_.stop();
  }

 private:
  // Asked of the directory on the store's worker, behind the requests
  // queued, one count at a time (a slow directory must not pile up whole
  // scans ahead of REGISTERs); the gauge keeps its last value while the
  // directory does not answer.
  void count_aors() {
    if (counting_) return;
    counting_ = true;
    store_.count_aors([this](std::optional<size_t> count) {
      counting_ = false;
      if (count) aors_.set(static_cast<int64_t>(*count));
    });
  }

  LdapLocationStore store_;
  homesip::TimedLocationStore timed_;  // what the registrar and the tree use: store_, timed
  homesip::Gauge aors_;
  bool counting_ = false;  // main loop only
  std::unique_ptr<homesip::Timer> gauge_timer_;
};

}  // namespace

HOMESIP_PLUGIN(LocationLdapPlugin, .name = "location-ldap", .version = "3.0.0",
               .summary = "Location store and user store in an LDAP directory (OpenLDAP, shared by servers)",
               .settings = homesip::location_ldap::kLocationLdapSettings, .provides = kProvides,
               .metrics = kMetrics, .check_settings = &check_settings)
