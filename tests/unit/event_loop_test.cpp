// SofiaEventLoop's before-wait hook: the UDP transport sends its queued
// responses from it, so it must run before the loop blocks again, also after
// timers, which su_root runs after its own pre-poll callback.
#include "event_loop.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

namespace homesip::core {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST(SofiaEventLoop, BeforeWaitRunsRightAfterATimerTick) {
  SofiaEventLoop loop;
  std::optional<Clock::time_point> ticked, hooked_after_tick;
  loop.set_before_wait([&] {
    if (ticked && !hooked_after_tick) hooked_after_tick = Clock::now();
  });
  auto tick = loop.start_timer(10ms, false, [&] { ticked = Clock::now(); });
  // Nothing else happens until this timer: without the hook after the tick,
  // it would run only when the loop wakes for this one.
  auto stop = loop.start_timer(1000ms, false, [&] { loop.stop(); });
  loop.run();
  ASSERT_TRUE(ticked);
  ASSERT_TRUE(hooked_after_tick);
  EXPECT_LT(*hooked_after_tick - *ticked, 200ms);
}

TEST(SofiaEventLoop, BeforeWaitRunsAfterPostedTasks) {
  SofiaEventLoop loop;
  bool task_ran = false;
  bool hooked_after_task = false;
  loop.set_before_wait([&] {
    if (task_ran) hooked_after_task = true;
  });
  std::thread poster([&] { loop.post([&] { task_ran = true; }); });
  poster.join();
  EXPECT_TRUE(loop.run_until([&] { return hooked_after_task; }, 2s));
}

TEST(SofiaEventLoop, ClearedHookNoLongerRuns) {
  SofiaEventLoop loop;
  int calls = 0;
  loop.set_before_wait([&] { ++calls; });
  loop.run_until([&] { return calls > 0; }, 1s);
  ASSERT_GT(calls, 0);
  loop.set_before_wait(nullptr);
  const int before = calls;
  auto tick = loop.start_timer(5ms, false, [] {});
  loop.run_until([] { return false; }, 50ms);
  EXPECT_EQ(calls, before);
}

}  // namespace
}  // namespace homesip::core
