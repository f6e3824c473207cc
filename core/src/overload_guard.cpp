#include "overload_guard.hpp"

#include <algorithm>

namespace homesip::core {

OverloadGuard::OverloadGuard(const OverloadSettings& settings)
    : settings_(settings), jitter_(std::random_device{}()) {}

void OverloadGuard::tick(Clock::time_point now) {
  if (last_tick_ != Clock::time_point{}) {
    const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_ - kTick);
    const auto lag = late.count() > 0 ? late : std::chrono::milliseconds(0);
    lag_ms_ = lag.count();
    // One late tick sheds only until the next tick that comes on time: what
    // queued up during the stall is answered 503, not served late.
    lagging_ = settings_.max_loop_lag.count() > 0 && lag >= settings_.max_loop_lag;
  }
  last_tick_ = now;
}

uint32_t OverloadGuard::retry_after() {
  const uint32_t low = settings_.retry_after_min_s;
  const uint32_t high = std::max(low, settings_.retry_after_max_s);
  return low + static_cast<uint32_t>(jitter_() % (high - low + 1));
}

}  // namespace homesip::core
