// server.udp_coalesce_us: interrupt coalescing for a loop's datagrams, as a
// network card does it (ethtool's rx-usecs). When datagrams wake the loop more
// often than once per window, the loop pauses before it waits again, until a
// window after the last such wake, and then reads all that came meanwhile in
// one batch. Evenly spaced requests otherwise wake the loop once each: an
// epoll_wait, a recvmmsg and a sendmmsg per request, and a sleep and a wake of
// the thread, which cost as much as the request itself at 2000-8000/s
// (docs/benchmarks.md). The price: an answer, and anything else the loop
// serves, waits at most one window more. It does not pause when datagrams
// come more than a window apart, when the loop is behind (a read left
// datagrams waiting), or for a sender that waits for each answer before it
// sends again (pauses that bring one datagram each save nothing).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace homesip::core {

class WakeCoalescer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WakeCoalescer(std::chrono::microseconds window) : window_(window) {}

  // A socket of the loop read `count` datagrams at `now`; loop thread.
  void on_datagrams(Clock::time_point now, size_t count);
  // The last read left datagrams in the socket: the loop is behind.
  void on_backlog() { backlog_ = true; }
  // The loop is about to wait at `now`: the time to pause until, if it should.
  std::optional<Clock::time_point> pause_until(Clock::time_point now);
  // pause_until(now), slept on the calling (loop) thread.
  void pause_if_busy();
  // Pauses so far; any thread (homesipctl stats, /metrics).
  uint64_t pauses() const { return pauses_.load(std::memory_order_relaxed); }

 private:
  std::chrono::microseconds window_;
  Clock::time_point last_wake_{};
  Clock::time_point quiet_until_{};  // no pause before this, after pauses that saved nothing
  size_t count_ = 0;                 // datagrams read since this round's wake
  int lean_pauses_ = 0;              // pauses in a row that brought fewer than two
  bool woken_ = false;               // datagrams since the last pause_until()
  bool busy_ = false;                // they came within a window of the wake before
  bool backlog_ = false;
  bool paused_ = false;  // the last round ended with a pause
  std::atomic<uint64_t> pauses_{0};
};

}  // namespace homesip::core
