// location-sqlite: the server's location store in a local SQLite file.
#include "homesip/homesip.hpp"
#include "sqlite_location_store.hpp"
#include "store_options.hpp"

namespace {

using homesip::location_sqlite::LocationSqliteSettings;
using homesip::location_sqlite::SqliteLocationStore;
using homesip::location_sqlite::StoreOpenError;

SqliteLocationStore open_store(const LocationSqliteSettings& settings, homesip::PluginContext& context) {
  try {
    return SqliteLocationStore(settings.path, settings.options, context.loop(), context.logger());
  } catch (const StoreOpenError& e) {
    // Usually the path's fault (missing directory, no permission, a file
    // from a newer homesip): point the operator at the config line.
    throw homesip::ConfigError("path", e.what());
  }
}

class LocationSqlitePlugin final : public homesip::Plugin {
 public:
  explicit LocationSqlitePlugin(homesip::PluginContext& context)
      : store_(open_store(homesip::location_sqlite::read_settings(context.settings()), context)) {
    context.provide_location_store(store_);
  }
  void stop() override { store_.stop(); }

 private:
  SqliteLocationStore store_;
};

}  // namespace

HOMESIP_PLUGIN("location-sqlite", "1.0.0", "Location store in a local SQLite file",
               homesip::location_sqlite::kLocationSqliteSettings, LocationSqlitePlugin)
