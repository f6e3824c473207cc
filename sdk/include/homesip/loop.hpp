// The core's event loops, as plugins see them.
//
// The thread model (part of the SDK 2 contract):
// - The core runs one or more loops, each on its own thread; every loop
//   receives and answers requests (server.loops; 0: one per core).
// - The main loop (PluginContext::loop()) creates, starts and stops plugins,
//   runs admin commands, and runs the timers a plugin starts from there.
// - A request, its resumption and its client transactions' callbacks run on
//   the loop that received it (IncomingRequest::loop()).
// - Services (location store, user store, client, ...) may be called from any
//   loop thread; they call back on the loop of the thread that called them.
// - A timer belongs to the loop it was started on and must be destroyed there.
// - Worker threads a plugin owns come back to a loop through post().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace homesip {

// A running timer; destroying it cancels it. Create and destroy on its loop's thread.
class __attribute__((visibility("default"))) Timer {
 public:
  virtual ~Timer() = default;
};

class __attribute__((visibility("default"))) EventLoop {
 public:
  virtual ~EventLoop() = default;

  // Runs `task` on this loop's thread soon. Safe to call from any thread,
  // including this loop's. Tasks posted after shutdown began are dropped.
  virtual void post(std::function<void()> task) = 0;

  // Calls `tick` every `interval` (or once, if repeat is false) on this loop's
  // thread until the returned Timer is destroyed. This loop's thread only.
  virtual std::unique_ptr<Timer> start_timer(std::chrono::milliseconds interval, bool repeat,
                                             std::function<void()> tick) = 0;

  // True on this loop's thread.
  virtual bool on_loop_thread() const = 0;

  // Wall-clock seconds since the epoch, as this loop sees it: what binding
  // expiry is kept in (it survives restarts). The test kit's loop moves it by hand.
  virtual int64_t unix_now() const = 0;
};

// Wall-clock seconds since the epoch, for code with no loop at hand (a store's
// worker thread). Handlers use EventLoop::unix_now() so tests can move time.
inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace homesip
