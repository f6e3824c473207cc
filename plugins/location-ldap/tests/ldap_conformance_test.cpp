// The SDK's LocationStore and UserStore conformance suites, run against the
// LDAP store on a real slapd. One slapd serves every test; each test's store
// gets containers of its own (ou=cN and ou=uN under o=homesip; the users'
// container is created by the first put), so each starts empty.
#include <atomic>

#include "homesip/testkit/location_store_conformance.hpp"
#include "homesip/testkit/user_store_conformance.hpp"
#include "slapd_fixture.hpp"
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

class LdapStoreHarness final : public testkit::StoreHarness {
 public:
  explicit LdapStoreHarness(std::chrono::milliseconds cache)
      : loop_(std::make_unique<core::SofiaEventLoop>()) {
    static std::atomic<int> counter{0};
    const std::string n = std::to_string(++counter);
    LdapOptions options = shared_slapd().store_options("ou=c" + n + "," + kBaseDn);
    options.users_dn = "ou=u" + n + "," + kBaseDn;
    options.cache = cache;
    store_ = std::make_unique<LdapLocationStore>(options, *loop_, logger_);
  }
  ~LdapStoreHarness() override {
    store_.reset();
    loop_.reset();  // runs the confirmations the store posted last
  }
  LocationStore& store() override { return *store_; }
  UserStore& users() override { return *store_; }
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

using homesip::location_ldap::testing::LdapStoreHarness;
using homesip::testkit::LocationStoreConformance;
using homesip::testkit::StoreFactory;
using homesip::testkit::UserStoreConformance;

namespace {
const StoreFactory kCached{
    "ldap_cached", [] { return std::make_unique<LdapStoreHarness>(std::chrono::milliseconds(1000)); }};
const StoreFactory kUncached{"ldap_uncached",
                             [] { return std::make_unique<LdapStoreHarness>(std::chrono::milliseconds(0)); }};
}  // namespace

// Twice: with the default read cache, and with every lookup going to the directory.
INSTANTIATE_TEST_SUITE_P(Ldap, LocationStoreConformance, ::testing::Values(kCached, kUncached),
                         homesip::testkit::factory_name);
// Users never go through the cache: once is enough.
INSTANTIATE_TEST_SUITE_P(Ldap, UserStoreConformance, ::testing::Values(kCached),
                         homesip::testkit::factory_name);
