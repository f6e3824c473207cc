// The SDK's LocationStore and UserStore conformance suites, run against the
// SQLite stores on the test kit's ManualLoop (answers come from the writer
// threads through post(), which the harness runs as they arrive).
#include "homesip/testkit/location_store_conformance.hpp"
#include "homesip/testkit/manual_loop.hpp"
#include "homesip/testkit/user_store_conformance.hpp"
#include "sqlite_user_store.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

class SqliteStoreHarness final : public testkit::StoreHarness {
 public:
  SqliteStoreHarness()
      : store_(std::make_unique<SqliteLocationStore>(directory_.file("location.sqlite"),
                                                     SqliteLocationStoreOptions{}, loop_, logger_)),
        users_(std::make_unique<SqliteUserStore>(*store_)) {}
  ~SqliteStoreHarness() override {
    users_.reset();
    store_.reset();
    loop_.run_pending();  // the confirmations the stores posted last
  }

  LocationStore& store() override { return *store_; }
  UserStore& users() override { return *users_; }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) override {
    return loop_.run_until(done, timeout);
  }

 private:
  ScratchDirectory directory_;
  RecordingLogger logger_;
  testkit::ManualLoop loop_;
  std::unique_ptr<SqliteLocationStore> store_;
  std::unique_ptr<SqliteUserStore> users_;
};

}  // namespace
}  // namespace homesip::location_sqlite::testing

using homesip::testkit::LocationStoreConformance;
using homesip::testkit::UserStoreConformance;

namespace {
const homesip::testkit::StoreFactory kSqlite{
    "sqlite", [] { return std::make_unique<homesip::location_sqlite::testing::SqliteStoreHarness>(); }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, LocationStoreConformance, ::testing::Values(kSqlite),
                         homesip::testkit::factory_name);
INSTANTIATE_TEST_SUITE_P(Sqlite, UserStoreConformance, ::testing::Values(kSqlite),
                         homesip::testkit::factory_name);
