// Overload shedding (server.overload): when the server is behind, a new
// request gets 503 with a Retry-After at once, instead of waiting in a queue
// until its sender gives up and retransmits into the same queue. What the
// core measures cheaply: requests suspended in the chain (waiting on a store
// or a plugin), how late the loop runs a periodic tick, and how long a
// datagram waited in its socket's queue (its kernel receive timestamp): a
// loop that is busy all the time still runs its tick on time, while the
// requests queue in front of it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>

namespace homesip::core {

// server.overload.
struct OverloadSettings {
  size_t max_pending = 10000;                    // suspended requests; 0: not watched
  std::chrono::milliseconds max_loop_lag{1000};  // 0: not watched
  // A request queued a second has been sent twice more by its client (T1,
  // 2*T1), and the copies queue behind it. Not less by default: a burst such
  // as a city's terminals after a power cut queues a few hundred ms and is
  // served faster whole than with part of it told to come back in 5 to 10 s
  // (bench/storm.sh: 64.7 s with 250 ms, 6265 503s; 44-52 s without).
  std::chrono::milliseconds max_queue_delay{1000};  // 0: not watched
  uint32_t retry_after_min_s = 5;
  uint32_t retry_after_max_s = 10;
};

// One per loop: each measures its own lag. The loop's thread only, but for loop_lag().
class OverloadGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // How often the loop's lag is sampled.
  static constexpr std::chrono::milliseconds kTick{100};

  explicit OverloadGuard(const OverloadSettings& settings);

  // The periodic tick, from a timer every kTick: the lag is how late it runs.
  void tick(Clock::time_point now);
  // Whether a new request is shed, with `pending` requests suspended now,
  // that waited `queued` in its socket's queue (zero: not a datagram).
  bool overloaded(size_t pending, std::chrono::milliseconds queued) const {
    return (settings_.max_pending && pending >= settings_.max_pending) || lagging_ ||
           (settings_.max_queue_delay.count() > 0 && queued >= settings_.max_queue_delay);
  }
  // A Retry-After in [retry_after_min_s, retry_after_max_s], so the senders
  // told to wait do not all come back in the same second.
  uint32_t retry_after();
  // The lag the last tick measured. Any thread (the stats read every loop's).
  std::chrono::milliseconds loop_lag() const { return std::chrono::milliseconds(lag_ms_.load()); }

 private:
  OverloadSettings settings_;
  Clock::time_point last_tick_{};
  std::atomic<int64_t> lag_ms_{0};
  bool lagging_ = false;
  std::minstd_rand jitter_;
};

}  // namespace homesip::core
