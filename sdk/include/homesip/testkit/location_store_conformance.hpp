// The conformance suite every homesip::LocationStore backend must pass: the
// behaviour the registrar and other readers rely on, whatever the storage.
// It covers adding bindings (all fields kept), several contacts per AOR,
// highest-q-first order, refresh, removal of one and of all contacts, expiry
// (bindings expired at once and as time passes are invisible to lookup,
// list_aors and editors), editors returning false, list_aors by domain,
// independence of AORs, and edits of one AOR submitted back to back.
//
// To run it for a backend, include this header in ONE source file of the
// backend's test executable (it defines the tests), link GTest, and
// instantiate the suite with a factory:
//
//   #include "homesip/testkit/location_store_conformance.hpp"
//
//   class MyHarness final : public homesip::testkit::StoreHarness { ... };
//   using homesip::testkit::LocationStoreConformance;  // the macro wants the bare name
//
//   INSTANTIATE_TEST_SUITE_P(
//       MyBackend, LocationStoreConformance,
//       ::testing::Values(homesip::testkit::StoreFactory{
//           "my_backend", [] { return std::make_unique<MyHarness>(); }}),
//       homesip::testkit::factory_name);
//
// The suite calls the store only on the thread that created the harness (the
// test's thread, which must be the loop thread) and waits for callbacks by
// running the harness's loop, so a backend may answer inline or later. One
// test waits for a binding to expire (about 2 s of wall-clock time).
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit, with GTest).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "homesip/location_store.hpp"
#include "homesip/loop.hpp"
#include "homesip/testkit/store_harness.hpp"

namespace homesip::testkit {

namespace location_conformance {

inline constexpr std::chrono::seconds kCallbackTimeout{5};

inline BindingEditor remove_contact(std::string contact) {
  return [contact](BindingList& bindings) {
    std::erase_if(bindings, [&](const Binding& b) { return b.contact == contact; });
    return true;
  };
}

inline BindingEditor remove_all() {
  return [](BindingList& bindings) {
    bindings.clear();
    return true;
  };
}

inline std::vector<std::string> contacts_of(const BindingList& bindings) {
  std::vector<std::string> contacts;
  for (const Binding& binding : bindings) contacts.push_back(binding.contact);
  return contacts;
}

}  // namespace location_conformance

// The suite's fixture, parameterised by the backend's factory.
class LocationStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    harness_ = GetParam().create();
    ASSERT_NE(harness_, nullptr);
  }
  void TearDown() override { harness_.reset(); }

  LocationStore& store() { return harness_->store(); }

  struct UpdateResult {
    StoreStatus status = StoreStatus::kError;
    BindingList bindings;
  };

  // Synchronous wrappers: they wait (running the loop) for the callback and
  // fail the test when it does not come within a few seconds. The callbacks
  // write into shared state: should one come after the wait gave up, it must
  // not write into a finished test's stack.
  UpdateResult update(const std::string& aor, BindingEditor edit) {
    auto result = std::make_shared<std::optional<UpdateResult>>();
    store().update(aor, std::move(edit), [result](StoreStatus status, const BindingList& bindings) {
      *result = UpdateResult{status, bindings};
    });
    EXPECT_TRUE(run_until([&] { return result->has_value(); }, location_conformance::kCallbackTimeout))
        << "update of " << aor;
    return result->value_or(UpdateResult{});
  }
  BindingList lookup(const std::string& aor) {
    auto result = std::make_shared<std::optional<BindingList>>();
    store().lookup(aor, [result](StoreStatus status, const BindingList& bindings) {
      EXPECT_EQ(status, StoreStatus::kOk);
      *result = bindings;
    });
    EXPECT_TRUE(run_until([&] { return result->has_value(); }, location_conformance::kCallbackTimeout))
        << "lookup of " << aor;
    return result->value_or(BindingList{});
  }
  std::vector<std::string> list_aors(const std::string& domain) {
    auto result = std::make_shared<std::optional<std::vector<std::string>>>();
    store().list_aors(domain, [result](StoreStatus status, const std::vector<std::string>& aors) {
      EXPECT_EQ(status, StoreStatus::kOk);
      *result = aors;
    });
    EXPECT_TRUE(run_until([&] { return result->has_value(); }, location_conformance::kCallbackTimeout))
        << "list of " << domain;
    return result->value_or(std::vector<std::string>{});
  }
  // Runs the loop (so timers and posted work proceed) until `done()`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    return harness_->run_until(done, timeout);
  }

 private:
  std::unique_ptr<StoreHarness> harness_;
};

namespace location_conformance {

TEST_P(LocationStoreConformance, AddsABindingWithAllItsFields) {
  const Binding binding = make_binding("sip:u1@192.0.2.7:5060", 3600, 700);
  const UpdateResult result = update("u1@home.test", put(binding));
  ASSERT_EQ(result.status, StoreStatus::kOk);
  ASSERT_EQ(result.bindings.size(), 1u);
  expect_same_binding(result.bindings[0], binding);

  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  expect_same_binding(found[0], binding);
}

TEST_P(LocationStoreConformance, UnknownAorHasNoBindings) {
  EXPECT_TRUE(lookup("nobody@home.test").empty());
  EXPECT_TRUE(list_aors("home.test").empty());
}

TEST_P(LocationStoreConformance, EditorSeesTheCurrentBindings) {
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  auto seen = std::make_shared<std::vector<std::string>>();
  update("u1@home.test", [seen](BindingList& bindings) {
    *seen = contacts_of(bindings);
    return false;
  });
  EXPECT_EQ(*seen, std::vector<std::string>{"sip:a@192.0.2.1"});
}

TEST_P(LocationStoreConformance, KeepsSeveralContactsPerAor) {
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  const UpdateResult second = update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
  EXPECT_EQ(second.status, StoreStatus::kOk);
  EXPECT_EQ(second.bindings.size(), 2u);

  std::vector<std::string> contacts = contacts_of(lookup("u1@home.test"));
  std::sort(contacts.begin(), contacts.end());
  EXPECT_EQ(contacts, (std::vector<std::string>{"sip:a@192.0.2.1", "sip:b@192.0.2.2"}));
}

TEST_P(LocationStoreConformance, ListsHighestQFirst) {
  const UpdateResult result = update("u1@home.test", [](BindingList& bindings) {
    bindings.push_back(make_binding("sip:mid@192.0.2.1", 3600, 500));
    bindings.push_back(make_binding("sip:top@192.0.2.2", 3600, 1000));
    bindings.push_back(make_binding("sip:low@192.0.2.3", 3600, 100));
    return true;
  });
  const std::vector<std::string> by_q{"sip:top@192.0.2.2", "sip:mid@192.0.2.1", "sip:low@192.0.2.3"};
  EXPECT_EQ(contacts_of(result.bindings), by_q);
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), by_q);
}

TEST_P(LocationStoreConformance, RefreshChangesExpiry) {
  Binding binding = make_binding("sip:a@192.0.2.1", 60);
  update("u1@home.test", put(binding));
  binding.expires_at = unix_now() + 7200;
  binding.cseq = 2;
  const UpdateResult refreshed = update("u1@home.test", put(binding));
  EXPECT_EQ(refreshed.status, StoreStatus::kOk);

  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  expect_same_binding(found[0], binding);
}

TEST_P(LocationStoreConformance, RemovesOneContact) {
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
  const UpdateResult result = update("u1@home.test", remove_contact("sip:a@192.0.2.1"));
  EXPECT_EQ(result.status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(result.bindings), std::vector<std::string>{"sip:b@192.0.2.2"});
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:b@192.0.2.2"});
}

TEST_P(LocationStoreConformance, RemovesAllContacts) {
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
  const UpdateResult result = update("u1@home.test", remove_all());
  EXPECT_EQ(result.status, StoreStatus::kOk);
  EXPECT_TRUE(result.bindings.empty());
  EXPECT_TRUE(lookup("u1@home.test").empty());
  EXPECT_TRUE(list_aors("home.test").empty());
}

TEST_P(LocationStoreConformance, ExpiredBindingsAreInvisible) {
  update("u1@home.test", [](BindingList& bindings) {
    bindings.push_back(make_binding("sip:gone@192.0.2.1", -10));
    bindings.push_back(make_binding("sip:live@192.0.2.2", 3600));
    return true;
  });
  update("u2@home.test", put(make_binding("sip:gone@192.0.2.3", -10)));

  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:live@192.0.2.2"});
  EXPECT_TRUE(lookup("u2@home.test").empty());
  EXPECT_EQ(list_aors("home.test"), std::vector<std::string>{"u1@home.test"});
}

TEST_P(LocationStoreConformance, BindingsExpireAsTimePasses) {
  const Binding binding = make_binding("sip:a@192.0.2.1", 1);
  update("u1@home.test", put(binding));
  ASSERT_TRUE(run_until([&] { return unix_now() > binding.expires_at; }, std::chrono::seconds(3)));

  EXPECT_TRUE(lookup("u1@home.test").empty());
  EXPECT_TRUE(list_aors("home.test").empty());
  auto seen = std::make_shared<size_t>(99);
  update("u1@home.test", [seen](BindingList& bindings) {
    *seen = bindings.size();
    return false;
  });
  EXPECT_EQ(*seen, 0u) << "the editor must not see expired bindings";
}

TEST_P(LocationStoreConformance, EditorReturningFalseChangesNothing) {
  const Binding binding = make_binding("sip:a@192.0.2.1", 3600);
  update("u1@home.test", put(binding));
  const UpdateResult result = update("u1@home.test", [](BindingList& bindings) {
    bindings.clear();
    bindings.push_back(make_binding("sip:intruder@192.0.2.9", 3600));
    return false;
  });
  EXPECT_EQ(result.status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(result.bindings), std::vector<std::string>{"sip:a@192.0.2.1"});
  const BindingList found = lookup("u1@home.test");
  ASSERT_EQ(found.size(), 1u);
  expect_same_binding(found[0], binding);
}

TEST_P(LocationStoreConformance, ListsAorsOfOneDomainSorted) {
  update("bob@c1.d1.h1", put(make_binding("sip:bob@192.0.2.1", 3600)));
  update("alice@c1.d1.h1", put(make_binding("sip:alice@192.0.2.2", 3600)));
  update("carol@c1.d1", put(make_binding("sip:carol@192.0.2.3", 3600)));
  update("dave@x.c1.d1.h1", put(make_binding("sip:dave@192.0.2.4", 3600)));

  EXPECT_EQ(list_aors("c1.d1.h1"), (std::vector<std::string>{"alice@c1.d1.h1", "bob@c1.d1.h1"}));
  EXPECT_EQ(list_aors("c1.d1"), std::vector<std::string>{"carol@c1.d1"});
  EXPECT_EQ(list_aors("x.c1.d1.h1"), std::vector<std::string>{"dave@x.c1.d1.h1"});
  EXPECT_TRUE(list_aors("d1").empty());
}

TEST_P(LocationStoreConformance, UpdatesOfDifferentAorsAreIndependent) {
  update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  update("u2@home.test", put(make_binding("sip:a@192.0.2.1", 3600)));
  update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)));
  update("u1@home.test", remove_contact("sip:a@192.0.2.1"));

  EXPECT_EQ(contacts_of(lookup("u2@home.test")), std::vector<std::string>{"sip:a@192.0.2.1"});
  EXPECT_EQ(contacts_of(lookup("u1@home.test")), std::vector<std::string>{"sip:b@192.0.2.2"});
  update("u1@home.test", remove_all());
  EXPECT_EQ(contacts_of(lookup("u2@home.test")), std::vector<std::string>{"sip:a@192.0.2.1"});
  EXPECT_EQ(list_aors("home.test"), std::vector<std::string>{"u2@home.test"});
}

TEST_P(LocationStoreConformance, EditsOfOneAorSubmittedTogetherBothApply) {
  // Neither edit waits for the other: the store must serialise them, so the
  // second sees the first's binding.
  auto confirmed = std::make_shared<int>(0);
  auto confirm = [confirmed](StoreStatus status, const BindingList&) {
    EXPECT_EQ(status, StoreStatus::kOk);
    ++*confirmed;
  };
  store().update("u1@home.test", put(make_binding("sip:a@192.0.2.1", 3600)), confirm);
  store().update("u1@home.test", put(make_binding("sip:b@192.0.2.2", 3600)), confirm);
  ASSERT_TRUE(run_until([&] { return *confirmed == 2; }, kCallbackTimeout));

  std::vector<std::string> contacts = contacts_of(lookup("u1@home.test"));
  std::sort(contacts.begin(), contacts.end());
  EXPECT_EQ(contacts, (std::vector<std::string>{"sip:a@192.0.2.1", "sip:b@192.0.2.2"}));
}

}  // namespace location_conformance

}  // namespace homesip::testkit
