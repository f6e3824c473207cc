// The SDK's thread model (loop.hpp): a service answers on the loop of the
// thread that called it. Two test-kit loops stand for the main loop and a
// second request loop; the store is told which one is calling, as the
// core's PluginContext::current_loop() would tell it. (The test kit's
// FakePluginContext has one loop only, so the stores are built directly.)
#include <thread>

#include "homesip/testkit/manual_loop.hpp"
#include "sqlite_user_store.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

using namespace std::chrono_literals;

struct CallerLoopTest : ::testing::Test {
  ScratchDirectory directory;
  RecordingLogger logger;
  testkit::ManualLoop main_loop;
  testkit::ManualLoop request_loop;
  EventLoop* calling = &main_loop;
  std::unique_ptr<SqliteLocationStore> store =
      std::make_unique<SqliteLocationStore>(directory.file("location.sqlite"), SqliteLocationStoreOptions{},
                                            main_loop, logger, [this]() -> EventLoop& { return *calling; });
  std::unique_ptr<SqliteUserStore> users = std::make_unique<SqliteUserStore>(*store);

  ~CallerLoopTest() override {
    users.reset();
    store.reset();
    main_loop.run_pending();
    request_loop.run_pending();
  }

  // Runs the main loop (the store's, where sweeps run) until the request loop
  // has work queued; true when it came.
  bool main_loop_until_request_loop_has_work() {
    return main_loop.run_until([&] { return request_loop.pending_tasks() > 0; }, 5s);
  }
};

TEST_F(CallerLoopTest, UpdateFromTheRequestLoopIsConfirmedOnTheRequestLoop) {
  calling = &request_loop;
  auto outcome = submit(*store, "u1@home.test", put(make_binding("sip:u1@192.0.2.1", 600)));
  calling = &main_loop;

  ASSERT_TRUE(main_loop_until_request_loop_has_work()) << "the confirmation never reached the request loop";
  EXPECT_FALSE(outcome->called) << "answered on the main loop";
  request_loop.run_pending();
  ASSERT_TRUE(outcome->called);
  EXPECT_EQ(outcome->status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(outcome->bindings), std::vector<std::string>{"sip:u1@192.0.2.1"});
}

// The writer posts it there itself: through the main loop, it cost a second
// hop and a copy of the bindings, and waited for the main loop's turn.
TEST_F(CallerLoopTest, TheRequestLoopsConfirmationNeedsNoTurnOfTheMainLoop) {
  calling = &request_loop;
  auto outcome = submit(*store, "u1@home.test", put(make_binding("sip:u1@192.0.2.1", 600)));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (request_loop.pending_tasks() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(request_loop.pending_tasks(), 1u) << "the confirmation waited for the main loop";
  EXPECT_EQ(main_loop.pending_tasks(), 0u);
  request_loop.run_pending();
  ASSERT_TRUE(outcome->called);
  EXPECT_EQ(outcome->status, StoreStatus::kOk);
  EXPECT_EQ(contacts_of(outcome->bindings), std::vector<std::string>{"sip:u1@192.0.2.1"});
}

TEST_F(CallerLoopTest, UpdateFromTheMainLoopIsConfirmedThereAndNowhereElse) {
  auto outcome = submit(*store, "u1@home.test", put(make_binding("sip:u1@192.0.2.1", 600)));
  ASSERT_TRUE(main_loop.run_until([&] { return outcome->called; }, 5s));
  EXPECT_EQ(outcome->status, StoreStatus::kOk);
  EXPECT_EQ(request_loop.pending_tasks(), 0u);
}

TEST_F(CallerLoopTest, UserWritesFromTheRequestLoopAreAnsweredOnTheRequestLoop) {
  calling = &request_loop;
  auto put_status = std::make_shared<std::optional<StoreStatus>>();
  users->put_user(
      UserRecord{"U1@home.test", "home.test", "owner", {{"home.test", "MD5", std::string(32, 'a')}}},
      [put_status](StoreStatus s) { *put_status = s; });
  auto removed = std::make_shared<std::optional<StoreStatus>>();
  users->remove_user("nobody@home.test", [removed](StoreStatus s) { *removed = s; });
  calling = &main_loop;

  // Only the request loop turns: the answers come to it.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!(put_status->has_value() && removed->has_value()) && std::chrono::steady_clock::now() < deadline) {
    request_loop.run_pending();
    if (put_status->has_value()) {
      // Committed, so memory has it before the caller hears: find answers at once.
      std::optional<UserRecord> found;
      users->find_user("u1@HOME.test",
                       [&](StoreStatus, const std::optional<UserRecord>& user) { found = user; });
      ASSERT_TRUE(found);
      EXPECT_EQ(found->role, "owner");
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(*put_status, StoreStatus::kOk);
  EXPECT_EQ(*removed, StoreStatus::kOk);
  EXPECT_EQ(main_loop.pending_tasks(), 0u) << "an answer went to the main loop";
}

TEST_F(CallerLoopTest, RefusalsAfterStopAreAnsweredOnTheCallersThreadAtOnce) {
  users->stop();
  store->stop();
  main_loop.run_pending();
  calling = &request_loop;
  std::optional<StoreStatus> put_status;
  users->put_user(UserRecord{"u1@home.test", "home.test", "", {}}, [&](StoreStatus s) { put_status = s; });
  std::optional<StoreStatus> update_status;
  store->update("u1@home.test", put(make_binding("sip:u1@192.0.2.1", 600)),
                [&](StoreStatus s, const BindingList&) { update_status = s; });
  EXPECT_EQ(put_status, StoreStatus::kUnavailable);
  EXPECT_EQ(update_status, StoreStatus::kUnavailable);
  EXPECT_EQ(main_loop.pending_tasks(), 0u);
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
