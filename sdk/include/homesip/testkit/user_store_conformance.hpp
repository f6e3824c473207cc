// The conformance suite every homesip::UserStore backend must pass: put and
// find (every field kept), a missing user (nullopt with kOk), case-insensitive
// find, several credentials per user, replacing a user, listing one domain
// sorted by AOR, and removing (also a user that is not there).
//
// Include this header in ONE source file of the backend's test executable
// (it defines the tests) and instantiate it with a factory whose harness
// implements StoreHarness::users():
//
//   #include "homesip/testkit/user_store_conformance.hpp"
//   using homesip::testkit::UserStoreConformance;
//   INSTANTIATE_TEST_SUITE_P(MyBackend, UserStoreConformance,
//                            ::testing::Values(homesip::testkit::StoreFactory{"my_backend", make_harness}),
//                            homesip::testkit::factory_name);
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
#include <tuple>
#include <vector>

#include "homesip/testkit/store_harness.hpp"
#include "homesip/user_store.hpp"

namespace homesip::testkit {

namespace user_conformance {

inline constexpr std::chrono::seconds kCallbackTimeout{5};

inline UserCredential credential(std::string realm, std::string algorithm, char digit) {
  const size_t length = algorithm == "SHA-256" ? 64 : 32;
  return UserCredential{std::move(realm), std::move(algorithm), std::string(length, digit)};
}

inline UserRecord make_user(const std::string& aor, const std::string& role) {
  UserRecord user;
  user.aor = aor;
  user.domain = aor.substr(aor.rfind('@') + 1);
  user.role = role;
  user.credentials.push_back(credential(user.domain, "MD5", 'a'));
  return user;
}

// Credentials in a fixed order: the interface promises no order for them.
inline std::vector<std::tuple<std::string, std::string, std::string>> sorted(
    const std::vector<UserCredential>& credentials) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  for (const UserCredential& c : credentials) out.emplace_back(c.realm, c.algorithm, c.ha1);
  std::sort(out.begin(), out.end());
  return out;
}

inline void expect_same_user(const UserRecord& actual, const UserRecord& expected) {
  EXPECT_EQ(actual.aor, expected.aor);
  EXPECT_EQ(actual.domain, expected.domain);
  EXPECT_EQ(actual.role, expected.role);
  EXPECT_EQ(sorted(actual.credentials), sorted(expected.credentials));
}

}  // namespace user_conformance

class UserStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    harness_ = GetParam().create();
    ASSERT_NE(harness_, nullptr);
  }
  void TearDown() override { harness_.reset(); }

  UserStore& users() { return harness_->users(); }

  struct FindResult {
    StoreStatus status = StoreStatus::kError;
    std::optional<UserRecord> user;
  };
  // Synchronous wrappers: they run the harness's loop until the callback
  // comes, and fail the test when it does not within a few seconds.
  FindResult find(const std::string& aor) {
    auto result = std::make_shared<std::optional<FindResult>>();
    users().find_user(aor, [result](StoreStatus status, const std::optional<UserRecord>& user) {
      *result = FindResult{status, user};
    });
    EXPECT_TRUE(wait([&] { return result->has_value(); })) << "find of " << aor;
    return result->value_or(FindResult{});
  }
  std::vector<UserRecord> list(const std::string& domain) {
    auto result = std::make_shared<std::optional<std::vector<UserRecord>>>();
    users().list_users(domain, [result](StoreStatus status, const std::vector<UserRecord>& found) {
      EXPECT_EQ(status, StoreStatus::kOk);
      *result = found;
    });
    EXPECT_TRUE(wait([&] { return result->has_value(); })) << "list of " << domain;
    return result->value_or(std::vector<UserRecord>{});
  }
  StoreStatus put(const UserRecord& user) {
    auto result = std::make_shared<std::optional<StoreStatus>>();
    users().put_user(user, [result](StoreStatus status) { *result = status; });
    EXPECT_TRUE(wait([&] { return result->has_value(); })) << "put of " << user.aor;
    return result->value_or(StoreStatus::kError);
  }
  StoreStatus remove(const std::string& aor) {
    auto result = std::make_shared<std::optional<StoreStatus>>();
    users().remove_user(aor, [result](StoreStatus status) { *result = status; });
    EXPECT_TRUE(wait([&] { return result->has_value(); })) << "remove of " << aor;
    return result->value_or(StoreStatus::kError);
  }
  static std::vector<std::string> aors_of(const std::vector<UserRecord>& users) {
    std::vector<std::string> aors;
    for (const UserRecord& user : users) aors.push_back(user.aor);
    return aors;
  }

 private:
  bool wait(const std::function<bool()>& done) {
    return harness_->run_until(done, user_conformance::kCallbackTimeout);
  }
  std::unique_ptr<StoreHarness> harness_;
};

namespace user_conformance {

TEST_P(UserStoreConformance, PutThenFindKeepsEveryField) {
  UserRecord user = make_user("u1@c1.d1.h1", "owner");
  user.credentials.push_back(credential("c1.d1.h1", "SHA-256", 'b'));
  ASSERT_EQ(put(user), StoreStatus::kOk);
  const FindResult found = find("u1@c1.d1.h1");
  ASSERT_EQ(found.status, StoreStatus::kOk);
  ASSERT_TRUE(found.user.has_value());
  expect_same_user(*found.user, user);
}

TEST_P(UserStoreConformance, MissingUserIsNulloptWithOk) {
  ASSERT_EQ(put(make_user("u1@c1.d1.h1", "member")), StoreStatus::kOk);
  const FindResult found = find("nobody@c1.d1.h1");
  EXPECT_EQ(found.status, StoreStatus::kOk);
  EXPECT_FALSE(found.user.has_value());
}

TEST_P(UserStoreConformance, FindIgnoresCase) {
  ASSERT_EQ(put(make_user("alice@c1.d1.h1", "member")), StoreStatus::kOk);
  const FindResult found = find("Alice@C1.D1.H1");
  ASSERT_EQ(found.status, StoreStatus::kOk);
  ASSERT_TRUE(found.user.has_value());
  EXPECT_EQ(found.user->role, "member");
  EXPECT_EQ(found.user->credentials.size(), 1u);
}

TEST_P(UserStoreConformance, KeepsCredentialsForSeveralRealmsAndAlgorithms) {
  UserRecord user = make_user("u1@c1.d1.h1", "owner");
  user.credentials = {credential("c1.d1.h1", "MD5", '1'), credential("c1.d1.h1", "SHA-256", '2'),
                      credential("c1.d1", "MD5", '3')};
  ASSERT_EQ(put(user), StoreStatus::kOk);
  const FindResult found = find("u1@c1.d1.h1");
  ASSERT_TRUE(found.user.has_value());
  EXPECT_EQ(sorted(found.user->credentials), sorted(user.credentials));
}

TEST_P(UserStoreConformance, PutReplacesTheUser) {
  UserRecord user = make_user("u1@c1.d1.h1", "owner");
  user.credentials.push_back(credential("c1.d1", "MD5", 'c'));
  ASSERT_EQ(put(user), StoreStatus::kOk);
  UserRecord replacement = make_user("u1@c1.d1.h1", "guest");
  replacement.credentials = {credential("c1.d1.h1", "SHA-256", 'd')};
  ASSERT_EQ(put(replacement), StoreStatus::kOk);

  const FindResult found = find("u1@c1.d1.h1");
  ASSERT_TRUE(found.user.has_value());
  expect_same_user(*found.user, replacement);
  EXPECT_EQ(list("c1.d1.h1").size(), 1u) << "a replaced user is still one user";
}

TEST_P(UserStoreConformance, ListsOneDomainSortedByAor) {
  ASSERT_EQ(put(make_user("bob@c1.d1.h1", "member")), StoreStatus::kOk);
  ASSERT_EQ(put(make_user("alice@c1.d1.h1", "owner")), StoreStatus::kOk);
  ASSERT_EQ(put(make_user("h1@c1.d1", "server")), StoreStatus::kOk);
  ASSERT_EQ(put(make_user("dave@x.c1.d1.h1", "member")), StoreStatus::kOk);

  const std::vector<UserRecord> family = list("c1.d1.h1");
  EXPECT_EQ(aors_of(family), (std::vector<std::string>{"alice@c1.d1.h1", "bob@c1.d1.h1"}));
  if (family.size() == 2) {
    EXPECT_EQ(family[0].role, "owner");
    EXPECT_EQ(family[1].role, "member");
  }
  EXPECT_EQ(aors_of(list("c1.d1")), std::vector<std::string>{"h1@c1.d1"});
  EXPECT_TRUE(list("d1").empty());
}

TEST_P(UserStoreConformance, RemovesAUser) {
  ASSERT_EQ(put(make_user("u1@c1.d1.h1", "member")), StoreStatus::kOk);
  ASSERT_EQ(put(make_user("u2@c1.d1.h1", "member")), StoreStatus::kOk);
  ASSERT_EQ(remove("u1@c1.d1.h1"), StoreStatus::kOk);

  const FindResult gone = find("u1@c1.d1.h1");
  EXPECT_EQ(gone.status, StoreStatus::kOk);
  EXPECT_FALSE(gone.user.has_value());
  EXPECT_EQ(aors_of(list("c1.d1.h1")), std::vector<std::string>{"u2@c1.d1.h1"});
}

TEST_P(UserStoreConformance, RemovingAMissingUserIsOk) {
  EXPECT_EQ(remove("nobody@c1.d1.h1"), StoreStatus::kOk);
  EXPECT_TRUE(list("c1.d1.h1").empty());
}

TEST_P(UserStoreConformance, UserWithoutCredentialsOrRole) {
  UserRecord user = make_user("u1@c1.d1.h1", "");
  user.credentials.clear();
  ASSERT_EQ(put(user), StoreStatus::kOk);
  const FindResult found = find("u1@c1.d1.h1");
  ASSERT_TRUE(found.user.has_value());
  expect_same_user(*found.user, user);
}

}  // namespace user_conformance

}  // namespace homesip::testkit
