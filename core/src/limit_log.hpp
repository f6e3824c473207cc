// One warning when a limit starts biting, not one per hit: an attack that
// hits a limit a million times must not write a million log lines. Later hits
// are counted and summed up in one line at most once a minute.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace homesip::core {

class LimitLog {
 public:
  explicit LimitLog(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

  // `limit` is the config key that bit; `detail` says where (source, what).
  void hit(std::string_view limit, std::string_view detail) {
    std::lock_guard lock(mutex_);  // every loop's hits (server.loops)
    const auto now = std::chrono::steady_clock::now();
    auto [it, first] = limits_.try_emplace(std::string(limit));
    State& state = it->second;
    ++state.total;
    if (first) {
      log_->warn("limit {} reached ({}); further hits are counted and logged at most once a minute", limit,
                 detail);
      state.since = now;
      return;
    }
    ++state.unlogged;
    if (now - state.since >= std::chrono::minutes(1)) {
      log_->warn("limit {} reached {} more times in the last {} s (latest: {})", limit, state.unlogged,
                 std::chrono::duration_cast<std::chrono::seconds>(now - state.since).count(), detail);
      state.unlogged = 0;
      state.since = now;
    }
  }
  // Every limit that bit so far, with its hits (homesipctl stats).
  std::map<std::string, uint64_t> totals() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, uint64_t> out;
    for (const auto& [limit, state] : limits_) out[limit] = state.total;
    return out;
  }
  // Hits of `limit` so far that no line reported yet (for tests).
  uint64_t unlogged(std::string_view limit) const {
    std::lock_guard lock(mutex_);
    const auto it = limits_.find(std::string(limit));
    return it == limits_.end() ? 0 : it->second.unlogged;
  }

 private:
  struct State {
    std::chrono::steady_clock::time_point since;
    uint64_t unlogged = 0;
    uint64_t total = 0;
  };
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::map<std::string, State, std::less<>> limits_;
};

}  // namespace homesip::core
