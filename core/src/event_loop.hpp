// One of the core's event loops: a sofia-sip su_root on the thread that runs
// it, plus a thread-safe task queue (an eventfd registered with the root) so
// other threads can hand work over. The main loop runs on the daemon's
// thread; server.loops adds loops on threads of their own (loop_thread.*).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "homesip/loop.hpp"

struct su_root_s;
struct su_timer_s;

namespace homesip::core {

class SofiaEventLoop final : public EventLoop {
 public:
  SofiaEventLoop();  // creates the root on the calling thread, whose loop it becomes
  ~SofiaEventLoop() override;

  // The loop created on the calling thread, or nullptr on a thread without one.
  static SofiaEventLoop* current();
  SofiaEventLoop(const SofiaEventLoop&) = delete;
  SofiaEventLoop& operator=(const SofiaEventLoop&) = delete;

  void post(std::function<void()> task) override;
  std::unique_ptr<Timer> start_timer(std::chrono::milliseconds interval, bool repeat,
                                     std::function<void()> tick) override;
  bool on_loop_thread() const override { return std::this_thread::get_id() == owner_; }
  int64_t unix_now() const override { return homesip::unix_now(); }

  // Runs until stop(); on the thread that created the loop.
  void run();
  // Thread-safe and async-signal-safe: the loop notices at once.
  void stop();
  // Runs the loop until `done()` is true or `timeout` passes; for shutdown
  // steps that wait on posted work.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Runs what is queued, on the loop's thread, and drops every task posted
  // after: a stopped loop of server.loops is closed while the plugins whose
  // tasks it holds still exist, not at its destruction after theirs.
  void close();

  su_root_s* root() const { return root_; }

  // Runs `hook` on the loop thread after each round of callbacks, before the
  // loop waits again: the UDP transports send their queued responses then.
  void set_before_wait(std::function<void()> hook);

 private:
  static int on_wakeup(void* root_magic, void* wait, void* loop);
  static void on_prepoll(void* loop, su_root_s* root);
  void drain();

  su_root_s* root_ = nullptr;
  int wake_fd_ = -1;
  std::thread::id owner_;
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  std::function<void()> before_wait_;
};

}  // namespace homesip::core
