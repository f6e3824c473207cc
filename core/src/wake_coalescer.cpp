#include "wake_coalescer.hpp"

#include <time.h>

#include <cerrno>

namespace homesip::core {
namespace {

// Two pauses in a row that each brought in fewer than two datagrams: the
// sender waits for every answer (a probe, a phone's sequence of requests), or
// the rate is about one per window. Pausing then only delays; it is retried
// after this many windows.
constexpr int kLeanPausesBeforeQuiet = 2;
constexpr int kQuietWindows = 64;

}  // namespace

void WakeCoalescer::on_datagrams(Clock::time_point now, size_t count) {
  if (window_.count() <= 0) return;
  if (woken_) {  // another read, or another socket, of the same round
    count_ += count;
    return;
  }
  woken_ = true;
  count_ = count;
  // After a pause the loop wakes at once for what came during it, a little
  // past the window: that still counts as busy. From a wait, only a wake
  // within a window of the last one does; at lower rates a pause would add a
  // wake (the sleep's) instead of saving one.
  const auto since = now - last_wake_;
  busy_ = last_wake_ != Clock::time_point{} && since < (paused_ ? window_ * 3 / 2 : window_);
  last_wake_ = now;
}

std::optional<WakeCoalescer::Clock::time_point> WakeCoalescer::pause_until(Clock::time_point now) {
  if (!woken_) return std::nullopt;  // a timer or a posted task: not a datagram's wake
  woken_ = false;
  if (paused_) {
    lean_pauses_ = count_ < 2 ? lean_pauses_ + 1 : 0;
    if (lean_pauses_ >= kLeanPausesBeforeQuiet) {
      lean_pauses_ = 0;
      quiet_until_ = now + window_ * kQuietWindows;
    }
  }
  const bool pause = busy_ && !backlog_ && now >= quiet_until_ && last_wake_ + window_ > now;
  busy_ = backlog_ = false;
  paused_ = pause;
  if (!pause) return std::nullopt;
  pauses_.fetch_add(1, std::memory_order_relaxed);
  return last_wake_ + window_;
}

void WakeCoalescer::pause_if_busy() {
  const auto until = pause_until(Clock::now());
  if (!until) return;
  // steady_clock is CLOCK_MONOTONIC on Linux: sleep to the absolute time.
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until->time_since_epoch()).count();
  const timespec at{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
  }
}

}  // namespace homesip::core
