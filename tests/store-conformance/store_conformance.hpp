// The conformance suite every homesip::LocationStore backend must pass: the
// behaviour the registrar and other readers rely on, whatever the storage.
// It covers adding bindings (all fields kept), several contacts per AOR,
// highest-q-first order, refresh, removal of one and of all contacts, expiry
// (bindings expired at once and as time passes are invisible to lookup,
// list_aors and editors), editors returning false, list_aors by domain,
// independence of AORs, and edits of one AOR submitted back to back.
//
// To run it for a backend, link `homesip_store_conformance` into the
// backend's test executable and instantiate the suite with a factory:
//
//   #include "store_conformance.hpp"
//
//   class MyHarness final : public homesip::conformance::StoreHarness { ... };
//   using homesip::conformance::LocationStoreConformance;  // the macro wants the bare name
//
//   INSTANTIATE_TEST_SUITE_P(
//       MyBackend, LocationStoreConformance,
//       ::testing::Values(homesip::conformance::StoreFactory{
//           "my_backend", [] { return std::make_unique<MyHarness>(); }}),
//       homesip::conformance::factory_name);
//
// The suite calls the store only on the thread that created the harness (the
// test's thread, which must be the loop thread) and waits for callbacks by
// running the harness's loop, so a backend may answer inline or later. One
// test waits for a binding to expire (about 2 s of wall-clock time).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "homesip/location_store.hpp"

namespace homesip::conformance {

// One fresh store under test, with the event loop its callbacks arrive on.
// A binding with every field set, expiring `expires_in` seconds from now.
Binding make_binding(const std::string& contact, int64_t expires_in, uint16_t q_millis = 1000);
// An editor as a registrar writes one: add `binding`, or replace the one with its contact.
BindingEditor put(Binding binding);

class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  virtual LocationStore& store() = 0;
  // Runs the store's loop until `done()` is true or `timeout` passes; returns
  // done(). Called on the thread that created the harness.
  virtual bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) = 0;
};

struct StoreFactory {
  std::string name;  // the test-name suffix: letters, digits and '_' only
  // A new, empty store for each test; the harness is destroyed after the test.
  std::function<std::unique_ptr<StoreHarness>()> create;
};

// Names each instantiation after StoreFactory::name.
std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info);

// gtest prints parameters on failure; a factory prints as its name.
void PrintTo(const StoreFactory& factory, std::ostream* out);

// The suite. Its tests are defined in store_conformance.cpp.
class LocationStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  homesip::LocationStore& store() { return harness_->store(); }

  // Synchronous wrappers: they wait (running the loop) for the callback and
  // fail the test when it does not come within a few seconds.
  struct UpdateResult {
    homesip::StoreStatus status = homesip::StoreStatus::kError;
    homesip::BindingList bindings;
  };
  UpdateResult update(const std::string& aor, homesip::BindingEditor edit);
  homesip::BindingList lookup(const std::string& aor);
  std::vector<std::string> list_aors(const std::string& domain);
  // Runs the loop (so timers and posted work proceed) until `done()`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<StoreHarness> harness_;
};

}  // namespace homesip::conformance
