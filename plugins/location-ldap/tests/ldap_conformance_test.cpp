// The LocationStore conformance suite, run against the LDAP store on a real
// slapd. One slapd serves every test; each test's store gets a container of
// its own (ou=cN,o=homesip), so each starts empty.
#include <atomic>

#include "slapd_fixture.hpp"
#include "store_conformance.hpp"
#include "store_test_support.hpp"

namespace homesip::location_ldap::testing {
namespace {

Slapd& shared_slapd() {
  static std::unique_ptr<Slapd> slapd;
  if (!slapd) {
    slapd = std::make_unique<Slapd>();
    // Stopped at exit, by PID, with the rest of the statics.
  }
  return *slapd;
}

class LdapStoreHarness final : public conformance::StoreHarness {
 public:
  explicit LdapStoreHarness(std::chrono::milliseconds cache)
      : loop_(std::make_unique<core::SofiaEventLoop>()) {
    static std::atomic<int> counter{0};
    LdapOptions options = shared_slapd().store_options("ou=c" + std::to_string(++counter) + "," + kBaseDn);
    options.cache = cache;
    store_ = std::make_unique<LdapLocationStore>(options, *loop_, logger_);
  }
  ~LdapStoreHarness() override {
    store_.reset();
    loop_.reset();  // runs the confirmations the store posted last
  }
  LocationStore& store() override { return *store_; }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) override {
    return loop_->run_until(done, timeout);
  }

 private:
  RecordingLogger logger_;
  std::unique_ptr<core::SofiaEventLoop> loop_;
  std::unique_ptr<LdapLocationStore> store_;
};

}  // namespace
}  // namespace homesip::location_ldap::testing

using homesip::conformance::LocationStoreConformance;
using homesip::location_ldap::testing::LdapStoreHarness;

// Twice: with the default read cache, and with every lookup going to the directory.
INSTANTIATE_TEST_SUITE_P(
    Ldap, LocationStoreConformance,
    ::testing::Values(homesip::conformance::StoreFactory{"ldap_cached",
                                                         [] {
                                                           return std::make_unique<LdapStoreHarness>(
                                                               std::chrono::milliseconds(1000));
                                                         }},
                      homesip::conformance::StoreFactory{
                          "ldap_uncached",
                          [] { return std::make_unique<LdapStoreHarness>(std::chrono::milliseconds(0)); }}),
    homesip::conformance::factory_name);
