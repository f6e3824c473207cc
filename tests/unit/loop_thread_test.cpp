// LoopThread, a loop of server.loops beyond the main one: work handed to its
// thread before and while it turns, what that work throws, and a stop that
// waits for what was posted before it.
#include "loop_thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

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

TEST(LoopThread, WhatACallThrowsIsThrownToTheCaller) {
  LoopThread worker;
  EXPECT_THROW(worker.call([] { throw std::runtime_error("cannot listen"); }), std::runtime_error);
  worker.run();
  EXPECT_THROW(worker.call([] { throw std::invalid_argument("while turning"); }), std::invalid_argument);
  int answered = 0;
  worker.call([&] { answered = 42; });  // the thread goes on after a throw
  EXPECT_EQ(answered, 42);
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

TEST(LoopThread, DestroyedWithoutEverTurning) {
  auto worker = std::make_unique<LoopThread>();
  bool ran = false;
  worker->loop().post([&] { ran = true; });
  worker.reset();  // the loop's destruction runs what was queued, on its thread
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace homesip::core
