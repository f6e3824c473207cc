// A loop of server.loops beyond the main one: a thread that creates its own
// SofiaEventLoop (a su_root belongs to the thread that made it), turns it
// between run() and stop(), and destroys it again on the same thread. call()
// runs work on that thread whether the loop turns or not: the server binds a
// loop's sockets there before it turns, and it turns only once the plugins
// have started.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "event_loop.hpp"

namespace homesip::core {

class LoopThread {
 public:
  // Starts the thread and waits until its loop exists; throws what creating it threw.
  LoopThread();
  // Stops the loop if it turns, then destroys it on its thread (what is still
  // queued runs then, as the main loop's does) and joins.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  SofiaEventLoop& loop() { return *loop_; }
  // Runs `job` on the loop's thread and waits for it; what it throws is
  // thrown here. From any thread but the loop's own; calls from several
  // threads run one after another, each caller getting its own outcome.
  void call(const std::function<void()>& job);
  // Lets the loop turn.
  void run();
  // Stops the loop after the tasks posted before, and waits until it stopped.
  void stop();

 private:
  // One call() waiting for the loop's thread: the caller's own, so that it
  // reads its own job's outcome even when another caller's job runs next.
  struct PendingCall {
    const std::function<void()>* job;
    std::exception_ptr error;
    bool done = false;
  };

  void body();

  std::mutex mutex_;
  std::condition_variable changed_;
  bool running_ = false;  // between run() and the end of the loop's turning
  bool go_ = false;
  bool quit_ = false;
  PendingCall* call_ = nullptr;     // the call the thread is to run next
  std::exception_ptr start_error_;  // creating the loop failed
  std::unique_ptr<SofiaEventLoop> loop_;
  std::thread thread_;
};

}  // namespace homesip::core
