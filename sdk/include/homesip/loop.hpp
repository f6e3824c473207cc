// The core's event loop, as plugins see it: all SIP handling runs on one
// thread; work from other threads (a store's writer, an LDAP worker) comes back
// to it through post().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace homesip {

// A running timer; destroying it cancels it. Create and destroy on the loop thread.
class __attribute__((visibility("default"))) Timer {
 public:
  virtual ~Timer() = default;
};

class __attribute__((visibility("default"))) EventLoop {
 public:
  virtual ~EventLoop() = default;

  // Runs `task` on the loop thread soon. Safe to call from any thread,
  // including the loop thread. Tasks posted after shutdown began are dropped.
  virtual void post(std::function<void()> task) = 0;

  // Calls `tick` every `interval` (or once, if repeat is false) on the loop
  // thread until the returned Timer is destroyed. Loop thread only.
  virtual std::unique_ptr<Timer> start_timer(std::chrono::milliseconds interval, bool repeat,
                                             std::function<void()> tick) = 0;

  // True on the loop thread.
  virtual bool on_loop_thread() const = 0;
};

// Wall-clock seconds since the epoch; binding expiry is kept in this unit so it
// survives restarts.
inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace homesip
