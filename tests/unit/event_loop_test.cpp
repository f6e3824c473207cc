// SofiaEventLoop's before-wait hook: the UDP transport sends its queued
// responses from it, so it must run before the loop blocks again, also after
// timers, which su_root runs after its own pre-poll callback. And posting:
// only the post that finds the queue empty wakes the loop, so no task may be
// left waiting for a wake-up that never comes.
#include "event_loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

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

TEST(SofiaEventLoop, EveryPostedTaskRunsInOrderWhilePostersRace) {
  SofiaEventLoop loop;
  constexpr int kPerThread = 20000;
  std::vector<int> seen_a, seen_b;
  std::atomic<int> nested{0};
  auto post_many = [&](std::vector<int>& seen) {
    for (int i = 0; i < kPerThread; ++i)
      loop.post([&seen, &loop, &nested, i] {
        seen.push_back(i);
        // Posted from the loop thread while it drains: runs in a later round.
        if (i % 1000 == 0) loop.post([&nested] { ++nested; });
      });
  };
  std::thread a([&] { post_many(seen_a); });
  std::thread b([&] { post_many(seen_b); });
  const bool all_ran = loop.run_until(
      [&] {
        return seen_a.size() == kPerThread && seen_b.size() == kPerThread && nested == 2 * kPerThread / 1000;
      },
      10s);
  a.join();
  b.join();
  ASSERT_TRUE(all_ran) << seen_a.size() << " + " << seen_b.size() << " tasks, " << nested << " nested";
  for (int i = 0; i < kPerThread; ++i) {
    ASSERT_EQ(seen_a[i], i);
    ASSERT_EQ(seen_b[i], i);
  }
}

}  // namespace
}  // namespace homesip::core
