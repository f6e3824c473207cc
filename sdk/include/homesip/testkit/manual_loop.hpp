// The test kit's event loop: nothing runs until the test says so. post()
// queues (from any thread), run_pending() runs the queue, advance() moves a
// manual clock and fires the timers that fall due. Both clocks -- the steady
// one timers use and unix_now() -- move only through advance() and
// set_unix_now(), so a test of expiry takes no wall-clock time.
//
// Header-only; part of the installed SDK (target homesip::sdk_testkit).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "homesip/loop.hpp"

namespace homesip::testkit {

class ManualLoop final : public EventLoop {
 public:
  // Starts unix time at the real wall clock, so a store that checks expiry
  // against its own clock agrees with bindings made from this loop.
  ManualLoop() : state_(std::make_shared<State>()), thread_(std::this_thread::get_id()) {
    state_->unix_millis = homesip::unix_now() * 1000;
  }
  ManualLoop(const ManualLoop&) = delete;
  ManualLoop& operator=(const ManualLoop&) = delete;

  void post(std::function<void()> task) override {
    {
      std::lock_guard lock(state_->mutex);
      state_->tasks.push_back(std::move(task));
    }
    state_->posted.notify_all();
  }

  std::unique_ptr<Timer> start_timer(std::chrono::milliseconds interval, bool repeat,
                                     std::function<void()> tick) override {
    if (!on_loop_thread()) throw std::logic_error("start_timer off the loop thread");
    if (interval.count() <= 0 && repeat) throw std::invalid_argument("a repeating timer needs an interval");
    const uint64_t id = ++state_->next_timer;
    state_->timers[id] = TimerEntry{state_->steady + interval, interval, repeat, std::move(tick)};
    return std::make_unique<ManualTimer>(state_, id);
  }

  bool on_loop_thread() const override { return std::this_thread::get_id() == thread_; }

  int64_t unix_now() const override {
    std::lock_guard lock(state_->mutex);
    return state_->unix_millis / 1000;
  }
  void set_unix_now(int64_t seconds) {
    std::lock_guard lock(state_->mutex);
    state_->unix_millis = seconds * 1000;
  }

  // The manual steady clock: time since the loop was created, moved by advance().
  std::chrono::milliseconds steady_now() const { return state_->steady; }

  // Runs queued tasks, and the tasks they post, in order; at most `limit`
  // (a loop that keeps posting itself is a bug the limit turns into a failure).
  // Returns how many ran.
  size_t run_pending(size_t limit = 100000) {
    size_t ran = 0;
    while (ran < limit) {
      std::function<void()> task;
      {
        std::lock_guard lock(state_->mutex);
        if (state_->tasks.empty()) break;
        task = std::move(state_->tasks.front());
        state_->tasks.pop_front();
      }
      task();
      ++ran;
    }
    if (ran == limit) throw std::runtime_error("ManualLoop::run_pending: tasks keep posting tasks");
    return ran;
  }

  // Moves both clocks by `by`, firing every timer that falls due, in due
  // order, at its due time (so a repeating timer fires once per interval),
  // and running the tasks each tick posts. Returns the number of ticks.
  size_t advance(std::chrono::milliseconds by) {
    run_pending();
    const std::chrono::milliseconds end = state_->steady + by;
    size_t ticks = 0;
    for (;;) {
      auto due = next_due(end);
      if (!due) break;
      move_clocks_to(due->second.due);
      TimerEntry& entry = state_->timers.at(due->first);
      std::function<void()> tick = entry.tick;  // the tick may destroy its own timer
      if (entry.repeat)
        entry.due += entry.interval;
      else
        state_->timers.erase(due->first);
      tick();
      ++ticks;
      run_pending();
      if (ticks > 1000000) throw std::runtime_error("ManualLoop::advance: timers without end");
    }
    move_clocks_to(end);
    return ticks;
  }

  // Waits in real time for work other threads post (a store's worker),
  // running it as it comes, until `done()` or `timeout`. Returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      run_pending();
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= deadline) break;
      // Wakes for posted work, and every few milliseconds for a `done` that
      // turns true by itself (the wall clock passing an expiry).
      std::unique_lock lock(state_->mutex);
      state_->posted.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kPoll),
                                [&] { return !state_->tasks.empty(); });
    }
    run_pending();
    return done();
  }

  size_t pending_tasks() const {
    std::lock_guard lock(state_->mutex);
    return state_->tasks.size();
  }
  size_t active_timers() const { return state_->timers.size(); }

 private:
  static constexpr std::chrono::milliseconds kPoll{10};
  struct TimerEntry {
    std::chrono::milliseconds due;
    std::chrono::milliseconds interval;
    bool repeat;
    std::function<void()> tick;
  };
  // Shared with the timers, which may outlive the loop in a careless test.
  struct State {
    mutable std::mutex mutex;
    std::condition_variable posted;
    std::deque<std::function<void()>> tasks;
    std::map<uint64_t, TimerEntry> timers;  // loop thread only
    uint64_t next_timer = 0;
    std::chrono::milliseconds steady{0};
    int64_t unix_millis = 0;
  };
  class ManualTimer final : public Timer {
   public:
    ManualTimer(std::weak_ptr<State> state, uint64_t id) : state_(std::move(state)), id_(id) {}
    ~ManualTimer() override {
      if (auto state = state_.lock()) state->timers.erase(id_);
    }

   private:
    std::weak_ptr<State> state_;
    uint64_t id_;
  };

  // The earliest timer due at or before `end` (ties: the one started first).
  std::optional<std::pair<uint64_t, TimerEntry>> next_due(std::chrono::milliseconds end) const {
    std::optional<std::pair<uint64_t, TimerEntry>> best;
    for (const auto& [id, entry] : state_->timers)
      if (entry.due <= end && (!best || entry.due < best->second.due)) best = {id, entry};
    return best;
  }
  void move_clocks_to(std::chrono::milliseconds when) {
    if (when <= state_->steady) return;
    std::lock_guard lock(state_->mutex);
    state_->unix_millis += (when - state_->steady).count();
    state_->steady = when;
  }

  std::shared_ptr<State> state_;
  std::thread::id thread_;
};

}  // namespace homesip::testkit
