// location-sqlite: the server's location store and user store in one local SQLite file.
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "homesip/homesip.hpp"
#include "homesip/timed_location_store.hpp"
#include "sqlite_location_store.hpp"
#include "sqlite_user_store.hpp"
#include "store_options.hpp"

namespace {

using homesip::location_sqlite::LocationSqliteSettings;
using homesip::location_sqlite::SqliteLocationStore;
using homesip::location_sqlite::SqliteUserStore;
using homesip::location_sqlite::StoreOpenError;

const char* const kProvides[] = {homesip::LocationStore::kServiceName, homesip::UserStore::kServiceName};
const homesip::CommandSpec kCommands[] = {
    {"users", "DOMAIN", "the users of DOMAIN (e.g. C1.D1.H1) with role and realms"},
};
const homesip::MetricSpec kMetrics[] = {
    {"aors", homesip::MetricType::kGauge, "AORs holding bindings in memory (refreshed every 5 s)"},
    {"write_seconds", homesip::MetricType::kHistogram,
     "a binding update, from the registrar's request to its commit (lookups are served from memory)"},
    {"transactions_total", homesip::MetricType::kCounter,
     "transactions committed, one fsync each (refreshed every 5 s and at stop)"},
    {"transaction_writes_total", homesip::MetricType::kCounter,
     "updates, users and sweeps those transactions held: divided by transactions_total, the group commit's "
     "batch size"},
};

// `homesipd --check-config` runs this: every setting the store reads.
void check_settings(const homesip::Settings& settings) { homesip::location_sqlite::read_settings(settings); }

SqliteLocationStore open_store(const LocationSqliteSettings& settings, homesip::PluginContext& context) {
  try {
    return SqliteLocationStore(settings.path, settings.options, context.loop(), context.logger(),
                               [&context]() -> homesip::EventLoop& { return context.current_loop(); });
  } catch (const StoreOpenError& e) {
    // Usually the path's fault (missing directory, no permission, a file
    // from a newer homesip): point the operator at the config line.
    throw homesip::ConfigError("path", e.what());
  }
}

// [{"aor": ..., "role": ..., "credentials": [{"realm": ..., "algorithm": ...}]}]; never the HA1.
std::string users_json(const std::vector<homesip::UserRecord>& users) {
  using Json = nlohmann::ordered_json;  // keys in the order written
  Json out = Json::array();
  for (const auto& user : users) {
    Json credentials = Json::array();
    for (const auto& credential : user.credentials)
      credentials.push_back({{"realm", credential.realm}, {"algorithm", credential.algorithm}});
    out.push_back({{"aor", user.aor}, {"role", user.role}, {"credentials", credentials}});
  }
  // Invalid UTF-8 in a stored name is replaced, never thrown.
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

class LocationSqlitePlugin final : public homesip::Plugin {
 public:
  explicit LocationSqlitePlugin(homesip::PluginContext& context)
      : settings_(homesip::location_sqlite::read_settings(context.settings())),
        store_(open_store(settings_, context)),
        users_(store_),
        timed_(store_, context.histogram("write_seconds")),
        aors_(context.gauge("aors")),
        transactions_(context.counter("transactions_total")),
        transaction_writes_(context.counter("transaction_writes_total")) {
    context.provide<homesip::LocationStore>(timed_);
    context.provide<homesip::UserStore>(users_);
    // DOMAIN is required: the server's own domain is the tree plugin's, and
    // the tree requires this plugin's LocationStore, so this plugin cannot
    // wait for the tree's service (the host refuses such a cycle).
    context.on_command("users", [this](const std::vector<std::string>& arguments, homesip::CommandDone done) {
      if (arguments.size() != 1) return done(false, "usage: users DOMAIN (e.g. users C1.D1.H1)");
      users_.list_users(arguments[0],
                        [done](homesip::StoreStatus status, const std::vector<homesip::UserRecord>& users) {
                          if (status != homesip::StoreStatus::kOk)
                            return done(false, "the user store is unavailable");
                          done(true, users_json(users));
                        });
    });
    publish_figures();
    gauge_timer_ = context.loop().start_timer(std::chrono::seconds(5), true, [this] { publish_figures(); });
  }
  void stop() override {
    gauge_timer_.reset();
    users_.stop();
    store_.stop();
    publish_figures();
  }

 private:
  // The writer's own counts are atomics the loop reads here, so committing
  // a transaction costs no metric update.
  void publish_figures() {
    aors_.set(static_cast<int64_t>(store_.aor_count()));
    transactions_.add(store_.committed_transactions() - transactions_.value());
    transaction_writes_.add(store_.committed_writes() - transaction_writes_.value());
  }

  LocationSqliteSettings settings_;
  SqliteLocationStore store_;
  SqliteUserStore users_;
  homesip::TimedLocationStore timed_;  // what the registrar and the tree use: store_, timed
  homesip::Gauge aors_;
  homesip::Counter transactions_;
  homesip::Counter transaction_writes_;
  std::unique_ptr<homesip::Timer> gauge_timer_;
};

}  // namespace

HOMESIP_PLUGIN(LocationSqlitePlugin, .name = "location-sqlite", .version = "3.0.0",
               .summary = "Location store and user store in a local SQLite file",
               .settings = homesip::location_sqlite::kLocationSqliteSettings, .provides = kProvides,
               .commands = kCommands, .metrics = kMetrics, .check_settings = &check_settings)
