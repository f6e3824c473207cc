// The registrar from several loops at once, as `server.loops: N` calls it:
// each thread owns a ManualLoop and hands its REGISTERs to the one handler;
// the store edits one AOR at a time and answers on the caller's loop. Exact
// outcomes: every REGISTER answered once on its own loop, the counters to the
// unit, and an AOR filled from every loop holds exactly max_bindings_per_aor.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "homesip/testkit/testkit.hpp"
#include "registrar.hpp"

namespace homesip::registrar {
namespace {

using testkit::FakeIncomingRequest;
using testkit::FakeLogger;
using testkit::ManualLoop;
using testkit::RequestBuilder;
using namespace std::chrono_literals;

constexpr int kThreads = 4;

// The loop of the thread running now: what the core's current_loop() gives a service.
thread_local EventLoop* current_loop = nullptr;

// Bindings in memory; one edit at a time (as a store serialises the edits
// of one AOR), each answer posted to the caller's loop.
class LockedStore final : public LocationStore {
 public:
  void update(std::string_view aor, BindingEditor edit, UpdateDone done) override {
    BindingList list;
    {
      std::lock_guard lock(mutex_);
      list = aors_[std::string(aor)];
      if (edit(list)) aors_[std::string(aor)] = list;
      list = aors_[std::string(aor)];
    }
    current_loop->post([done = std::move(done), list = std::move(list)] { done(StoreStatus::kOk, list); });
  }
  void lookup(std::string_view aor, LookupDone done) override {
    BindingList list;
    {
      std::lock_guard lock(mutex_);
      list = aors_[std::string(aor)];
    }
    current_loop->post([done = std::move(done), list = std::move(list)] { done(StoreStatus::kOk, list); });
  }
  void list_aors(std::string_view, ListDone done) override { done(StoreStatus::kError, {}); }
  size_t bindings(const std::string& aor) {
    std::lock_guard lock(mutex_);
    return aors_[aor].size();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, BindingList> aors_;
};

struct Answer {
  int status = 0;
  std::string reason;
  size_t replies = 0;
  std::vector<std::string> contacts;
  bool dated = false;
};

Answer handle(RequestHandler& handler, ManualLoop& loop, const RequestBuilder& builder) {
  FakeIncomingRequest incoming(builder.build(), loop);
  if (handler.on_request(incoming) == Disposition::kSuspended)
    loop.run_until([&] { return !incoming.replies().empty(); }, 10s);
  Answer a;
  a.replies = incoming.replies().size();
  if (const Reply* reply = incoming.last_reply()) {
    a.status = reply->status;
    a.reason = reply->reason;
    for (const ReplyContact& c : reply->contacts) a.contacts.push_back(c.uri);
    for (const auto& [name, value] : reply->headers) a.dated |= name == "Date" && value.ends_with(" GMT");
  }
  return a;
}

RequestBuilder reg(const std::string& aor, const std::string& contact, uint32_t expires, uint32_t cseq) {
  return RequestBuilder::registration(aor)
      .contact("<" + contact + ">")
      .expires(expires)
      .call_id("call-" + contact)
      .cseq(cseq);
}

// Runs `work(thread index, its loop, report a problem)` on kThreads threads that start together.
std::vector<std::string> on_loops(
    const std::function<void(int, ManualLoop&, const std::function<void(std::string)>&)>& work) {
  std::mutex mutex;
  std::vector<std::string> problems;
  std::latch ready(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ManualLoop loop;
      current_loop = &loop;
      ready.arrive_and_wait();
      try {
        work(t, loop, [&](std::string what) {
          std::lock_guard lock(mutex);
          problems.push_back("loop " + std::to_string(t) + ": " + what);
        });
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        problems.push_back("loop " + std::to_string(t) + " threw: " + e.what());
      }
      current_loop = nullptr;
    });
  for (std::thread& thread : threads) thread.join();
  return problems;
}

struct RegistrarThreadsTest : ::testing::Test {
  RegistrarThreadsTest()
      : registrar(store, log, RegistrarPolicy{}, {"C1.D1.H1"}, 5,
                  RegistrarMetrics{Counter(&registrations), Counter(&unregistrations), Counter(&rejected)}) {}
  LockedStore store;
  FakeLogger log;
  std::atomic<uint64_t> registrations{0}, unregistrations{0}, rejected{0};
  Registrar registrar;
};

TEST_F(RegistrarThreadsTest, EachLoopRegistersRefreshesQueriesAndRemovesItsOwnUsers) {
  constexpr int kUsers = 25;  // per loop
  const auto problems = on_loops([&](int t, ManualLoop& loop,
                                     const std::function<void(std::string)>& problem) {
    for (int i = 0; i < kUsers; ++i) {
      const std::string aor = "u" + std::to_string(t) + "x" + std::to_string(i) + "@C1.D1.H1";
      const std::string contact = "sip:" + aor.substr(0, aor.find('@')) + "@192.0.2.7:5060";
      const auto expect = [&](const char* what, const Answer& a, size_t contacts) {
        if (a.status != 200 || a.replies != 1 || a.contacts.size() != contacts || !a.dated ||
            (contacts == 1 && a.contacts[0] != contact))
          problem(aor + " " + what + ": " + std::to_string(a.status) + " " + a.reason + ", " +
                  std::to_string(a.contacts.size()) + " contacts");
      };
      expect("added", handle(registrar, loop, reg(aor, contact, 600, 1)), 1);
      expect("refreshed", handle(registrar, loop, reg(aor, contact, 600, 2)), 1);
      expect("queried", handle(registrar, loop, RequestBuilder::registration(aor).call_id("q-" + aor)), 1);
      expect("removed", handle(registrar, loop, reg(aor, contact, 0, 3)), 0);
    }
  });
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
  EXPECT_EQ(registrations.load(), 2u * kThreads * kUsers);
  EXPECT_EQ(unregistrations.load(), 1u * kThreads * kUsers);
  EXPECT_EQ(rejected.load(), 0u);
  EXPECT_EQ(log.count("registration added"), static_cast<size_t>(kThreads * kUsers));
  EXPECT_EQ(log.count("registration removed"), static_cast<size_t>(kThreads * kUsers));
}

TEST_F(RegistrarThreadsTest, OneAorFilledFromEveryLoopHoldsExactlyTheLimit) {
  constexpr int kContacts = 5;  // per loop: 20 in all, the limit is 10
  std::atomic<int> bound{0}, refused{0};
  const auto problems =
      on_loops([&](int t, ManualLoop& loop, const std::function<void(std::string)>& problem) {
        for (int i = 0; i < kContacts; ++i) {
          const std::string contact = "sip:shared@192.0.2." + std::to_string(t * kContacts + i + 1) + ":5060";
          const Answer a = handle(registrar, loop, reg("shared@C1.D1.H1", contact, 600, 1));
          if (a.status == 200 && a.replies == 1)
            ++bound;
          else if (a.status == 403 && a.reason == "Too Many Registered Contacts" && a.replies == 1)
            ++refused;
          else
            problem(contact + ": " + std::to_string(a.status) + " " + a.reason);
        }
      });
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
  const uint32_t limit = RegistrarPolicy{}.max_bindings_per_aor;
  EXPECT_EQ(bound.load(), static_cast<int>(limit));
  EXPECT_EQ(refused.load(), kThreads * kContacts - static_cast<int>(limit));
  EXPECT_EQ(store.bindings("shared@C1.D1.H1"), limit);
  EXPECT_EQ(registrations.load(), limit);
  EXPECT_EQ(rejected.load(), static_cast<uint64_t>(kThreads * kContacts) - limit);
}

}  // namespace
}  // namespace homesip::registrar
