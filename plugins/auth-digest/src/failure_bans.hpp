// Temporary bans of source IPs that fail to authenticate again and again
// (issue 13 part 6): `after` failures within `window_s` ban the source for
// `ban_s`. Memory is bounded: past `capacity` sources the oldest entry goes
// (a flood of addresses can make a counting source start over, never grow
// the table). Thread-safe: handlers run on several loops.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace homesip::auth_digest {

struct BanSettings {
  int64_t after = 10;  // failures; 0: never ban
  int64_t window_s = 60;
  int64_t ban_s = 600;
  size_t capacity = 10000;  // sources remembered
};

class FailureBans {
 public:
  explicit FailureBans(BanSettings settings) : settings_(settings) {}
  // True while `ip` is banned.
  bool banned(const std::string& ip, int64_t now) const;
  // Counts one failed authentication from `ip`; true when this one bans it.
  bool fail(const std::string& ip, int64_t now);
  const BanSettings& settings() const { return settings_; }
  size_t size() const;

 private:
  struct Entry {
    int64_t window_start = 0;
    int64_t failures = 0;
    int64_t banned_until = 0;  // 0: not banned
  };
  void make_room();

  const BanSettings settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // first failure order; entries leave from the front
};

}  // namespace homesip::auth_digest
