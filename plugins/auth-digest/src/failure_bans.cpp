#include "failure_bans.hpp"

namespace homesip::auth_digest {

bool FailureBans::banned(const std::string& ip, int64_t now) const {
  if (settings_.after == 0) return false;
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(ip);
  return it != entries_.end() && now < it->second.banned_until;
}

bool FailureBans::fail(const std::string& ip, int64_t now) {
  if (settings_.after == 0) return false;
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    make_room();
    it = entries_.emplace(ip, Entry{now, 0, 0}).first;
    order_.push_back(ip);
  }
  Entry& entry = it->second;
  if (now < entry.banned_until) return false;  // a late answer from a banned source
  if (now - entry.window_start >= settings_.window_s) entry = Entry{now, 0, 0};
  if (++entry.failures < settings_.after) return false;
  entry = Entry{now, 0, now + settings_.ban_s};
  return true;
}

size_t FailureBans::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

// The oldest source goes first: it has either stopped failing or been banned
// longest. (order_ holds each entry once: entries are only added at the back.)
void FailureBans::make_room() {
  while (entries_.size() >= settings_.capacity && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace homesip::auth_digest
