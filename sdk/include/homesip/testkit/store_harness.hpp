// What the store conformance suites share, and what a store's own tests may
// reuse: a harness that owns one store and the loop its callbacks arrive on,
// a factory per backend, and bindings and editors as a registrar makes them.
// Include this header anywhere; the suites themselves
// (location_store_conformance.hpp, user_store_conformance.hpp) define tests
// and go into exactly one source file of a test executable.
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit, with GTest).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "homesip/location_store.hpp"
#include "homesip/loop.hpp"
#include "homesip/user_store.hpp"

namespace homesip::testkit {

// One fresh store under test, with the event loop its callbacks arrive on.
// A backend that provides only one of the services throws from the other.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  virtual LocationStore& store() = 0;
  virtual UserStore& users() { throw std::logic_error("this store provides no UserStore"); }
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
inline std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

// gtest prints parameters on failure; a factory prints as its name.
inline void PrintTo(const StoreFactory& factory, std::ostream* out) { *out << factory.name; }

// A binding with every field set, expiring `expires_in` seconds from now (wall clock).
inline Binding make_binding(const std::string& contact, int64_t expires_in, uint16_t q_millis = 1000) {
  Binding binding;
  binding.contact = contact;
  binding.expires_at = unix_now() + expires_in;
  binding.q_millis = q_millis;
  binding.call_id = "call-" + contact;
  binding.cseq = 1;
  binding.source = "udp:192.0.2.7:5060";
  binding.instance = "<urn:uuid:00000000-0000-0000-0000-000000000001>";
  binding.user_agent = "conformance";
  return binding;
}

// An editor as a registrar writes one: add `binding`, or replace the one with its contact.
inline BindingEditor put(Binding binding) {
  return [binding](BindingList& bindings) {
    std::erase_if(bindings, [&](const Binding& b) { return b.contact == binding.contact; });
    bindings.push_back(binding);
    return true;
  };
}

// Every stored field of a binding, compared one by one so a failure names it.
inline void expect_same_binding(const Binding& actual, const Binding& expected) {
  EXPECT_EQ(actual.contact, expected.contact);
  EXPECT_EQ(actual.expires_at, expected.expires_at);
  EXPECT_EQ(actual.q_millis, expected.q_millis);
  EXPECT_EQ(actual.call_id, expected.call_id);
  EXPECT_EQ(actual.cseq, expected.cseq);
  EXPECT_EQ(actual.source, expected.source);
  EXPECT_EQ(actual.instance, expected.instance);
  EXPECT_EQ(actual.user_agent, expected.user_agent);
}

}  // namespace homesip::testkit
