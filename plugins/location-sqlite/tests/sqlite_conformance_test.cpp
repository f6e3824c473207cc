// The LocationStore conformance suite, run against the SQLite store.
#include "store_conformance.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

class SqliteStoreHarness final : public conformance::StoreHarness {
 public:
  SqliteStoreHarness()
      : loop_(std::make_unique<core::SofiaEventLoop>()),
        store_(std::make_unique<SqliteLocationStore>(directory_.file("location.sqlite"),
                                                     SqliteLocationStoreOptions{}, *loop_, logger_)) {}
  ~SqliteStoreHarness() override {
    store_.reset();
    loop_.reset();  // runs the confirmations the store posted last
  }

  LocationStore& store() override { return *store_; }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) override {
    return loop_->run_until(done, timeout);
  }

 private:
  ScratchDirectory directory_;
  RecordingLogger logger_;
  std::unique_ptr<core::SofiaEventLoop> loop_;
  std::unique_ptr<SqliteLocationStore> store_;
};

}  // namespace
}  // namespace homesip::location_sqlite::testing

using homesip::conformance::LocationStoreConformance;

INSTANTIATE_TEST_SUITE_P(
    Sqlite, LocationStoreConformance,
    ::testing::Values(homesip::conformance::StoreFactory{
        "sqlite", [] { return std::make_unique<homesip::location_sqlite::testing::SqliteStoreHarness>(); }}),
    homesip::conformance::factory_name);
