// LoopThread, a loop of server.loops beyond the main one: work handed to its
// thread before and while it turns, what that work throws, and a stop that
// waits for what was posted before it.
#include "loop_thread.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace homesip::core {
namespace {

using namespace std::chrono_literals;

TEST(LoopThread, CallRunsOnTheLoopsOwnThreadBeforeItTurns) {
  LoopThread worker;
  std::thread::id ran_on;
  bool was_loop_thread = false;
  SofiaEventLoop* current = nullptr;
  worker.call([&] {
    ran_on = std::this_thread::get_id();
    was_loop_thread = worker.loop().on_loop_thread();
    current = SofiaEventLoop::current();
  });
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(was_loop_thread);
  EXPECT_EQ(current, &worker.loop());
  EXPECT_EQ(SofiaEventLoop::current(), nullptr);  // this thread made no loop
}

// top -H and perf tell the loops from the main thread and the store's writer.
TEST(LoopThread, TheThreadIsNamedHomesipdLoop) {
  LoopThread worker;
  char name[16] = {};
  worker.call([&] { pthread_getname_np(pthread_self(), name, sizeof name); });
  EXPECT_STREQ(name, "homesipd-loop");
}

TEST(LoopThread, WhatACallThrowsIsThrownToTheCaller) {
  LoopThread worker;
  EXPECT_THROW(worker.call([] { throw std::runtime_error("cannot listen"); }), std::runtime_error);
  worker.run();
  EXPECT_THROW(worker.call([] { throw std::invalid_argument("while turning"); }), std::invalid_argument);
  int answered = 0;
  worker.call([&] { answered = 42; });  // the thread goes on after a throw
  EXPECT_EQ(answered, 42);
}

// Calls from several threads at once, before and while the loop turns: each
// caller gets its own job's outcome, never another's exception.
TEST(LoopThread, CallsFromSeveralThreadsEachGetTheirOwnOutcome) {
  LoopThread worker;
  constexpr int kThreads = 4;
  constexpr int kCalls = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string mine = std::to_string(t) + "/" + std::to_string(i);
        try {
          worker.call([&] {
            if (i % 2 == 1) throw std::runtime_error(mine);
          });
          if (i % 2 == 1) ++wrong;  // its exception went to someone else
        } catch (const std::runtime_error& e) {
          if (e.what() != mine) ++wrong;
        }
        if (t == 0 && i == kCalls / 2) worker.run();
      }
    });
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(wrong.load(), 0);
  worker.stop();
}

TEST(LoopThread, PostedTasksWaitUntilRunThenRunInOrder) {
  LoopThread worker;
  std::atomic<int> ran{0};
  std::vector<int> order;
  for (int i = 0; i < 3; ++i)
    worker.loop().post([&, i] {
      order.push_back(i);
      ++ran;
    });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ran.load(), 0);  // not turning yet
  worker.run();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (ran.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  worker.stop();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(LoopThread, StopRunsWhatWasPostedBeforeIt) {
  LoopThread worker;
  worker.run();
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) worker.loop().post([&] { ++ran; });
  worker.stop();
  EXPECT_EQ(ran.load(), 100);
  worker.stop();  // twice: nothing more to do
}

TEST(LoopThread, TimersTickOnTheLoopsThread) {
  LoopThread worker;
  std::promise<bool> ticked;
  std::unique_ptr<Timer> timer;
  worker.call([&] {
    timer = worker.loop().start_timer(5ms, false, [&] { ticked.set_value(worker.loop().on_loop_thread()); });
  });
  worker.run();
  auto ticked_future = ticked.get_future();
  ASSERT_EQ(ticked_future.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(ticked_future.get());
  worker.call([&] { timer.reset(); });  // destroyed on its loop's thread
}

// The server closes a stopped loop before the plugins are destroyed: what was
// posted before runs then, and a task posted after is dropped at once (its
// captures freed by the poster), never run at the loop's destruction.
TEST(LoopThread, ClosedLoopRunsWhatWasQueuedAndDropsLaterPosts) {
  auto worker = std::make_unique<LoopThread>();
  worker->run();
  worker->stop();
  bool queued_ran = false;
  worker->loop().post([&] { queued_ran = true; });
  worker->call([&] { worker->loop().close(); });
  EXPECT_TRUE(queued_ran);
  bool late_ran = false;
  auto capture = std::make_shared<int>(1);
  worker->loop().post([&late_ran, capture] { late_ran = true; });
  EXPECT_EQ(capture.use_count(), 1) << "the dropped task still holds its captures";
  worker.reset();
  EXPECT_FALSE(late_ran);
}

TEST(LoopThread, DestroyedWithoutEverTurning) {
  auto worker = std::make_unique<LoopThread>();
  bool ran = false;
  worker->loop().post([&] { ran = true; });
  worker.reset();  // the loop's destruction runs what was queued, on its thread
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace homesip::core
