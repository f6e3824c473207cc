// What the location-ldap store tests share: a logger that remembers, the real
// core loop, and synchronous wrappers around the store's calls.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "homesip/location_store.hpp"
#include "homesip/log.hpp"
#include "homesip/testkit/store_harness.hpp"
#include "ldap_location_store.hpp"

namespace homesip::location_ldap::testing {

class RecordingLogger final : public Logger {
 public:
  bool enabled(LogLevel) const override { return true; }
  void write(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.push_back({level, std::string(message)});
  }
  // Lines at `level` containing `text`.
  size_t count(LogLevel level, const std::string& text) const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [l, t] : lines_) n += l == level && t.find(text) != std::string::npos;
    return n;
  }
  std::string dump() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& line : lines_) out += line.second + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

using ::homesip::testkit::make_binding;
using ::homesip::testkit::put;

inline std::vector<std::string> contacts_of(const BindingList& bindings) {
  std::vector<std::string> contacts;
  for (const Binding& b : bindings) contacts.push_back(b.contact);
  return contacts;
}

struct Outcome {
  bool called = false;
  StoreStatus status = StoreStatus::kError;
  BindingList bindings;
};

// One loop for all the stores of a test, on the test's thread.
class LoopTest : public ::testing::Test {
 protected:
  LoopTest() : loop_(std::make_unique<core::SofiaEventLoop>()) {}
  ~LoopTest() override {
    stores_.clear();
    loop_.reset();
  }
  LdapLocationStore& open(LdapOptions options) {
    stores_.push_back(std::make_unique<LdapLocationStore>(std::move(options), *loop_, logger_));
    return *stores_.back();
  }
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return loop_->run_until(done, timeout);
  }
  std::shared_ptr<Outcome> submit(LocationStore& store, const std::string& aor, BindingEditor edit) {
    auto outcome = std::make_shared<Outcome>();
    store.update(aor, std::move(edit), [outcome](StoreStatus status, const BindingList& bindings) {
      *outcome = Outcome{true, status, bindings};
    });
    return outcome;
  }
  Outcome update(LocationStore& store, const std::string& aor, BindingEditor edit) {
    auto outcome = submit(store, aor, std::move(edit));
    EXPECT_TRUE(run_until([&] { return outcome->called; })) << "update of " << aor;
    return *outcome;
  }
  Outcome lookup(LocationStore& store, const std::string& aor) {
    auto outcome = std::make_shared<Outcome>();
    store.lookup(aor, [outcome](StoreStatus status, const BindingList& bindings) {
      *outcome = Outcome{true, status, bindings};
    });
    EXPECT_TRUE(run_until([&] { return outcome->called; })) << "lookup of " << aor;
    return *outcome;
  }
  void pause(std::chrono::milliseconds how_long) {
    const auto until = std::chrono::steady_clock::now() + how_long;
    run_until([&] { return std::chrono::steady_clock::now() >= until; }, how_long + std::chrono::seconds(1));
  }

  RecordingLogger logger_;
  std::unique_ptr<core::SofiaEventLoop> loop_;
  std::vector<std::unique_ptr<LdapLocationStore>> stores_;
};

}  // namespace homesip::location_ldap::testing
