#include "source_limiter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace homesip::core {

bool AddressBlock::contains(const uint8_t (&address)[16]) const {
  const unsigned whole = prefix_bits / 8;
  if (std::memcmp(bytes, address, whole) != 0) return false;
  const unsigned rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[whole] & mask) == (address[whole] & mask);
}

AddressBlock parse_address_block(const std::string& text) {
  const size_t slash = text.find('/');
  const std::string host = text.substr(0, slash);
  AddressBlock block;
  bool v4 = false;
  in_addr ip4{};
  if (::inet_pton(AF_INET, host.c_str(), &ip4) == 1) {
    v4 = true;
    block.bytes[10] = block.bytes[11] = 0xff;
    std::memcpy(block.bytes + 12, &ip4, 4);
  } else if (::inet_pton(AF_INET6, host.c_str(), block.bytes) != 1) {
    throw std::invalid_argument("'" + text + "' is not an address or ADDRESS/PREFIX");
  }
  const unsigned most = v4 ? 32 : 128;
  unsigned prefix = most;
  if (slash != std::string::npos) {
    const std::string digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || prefix > most)
      throw std::invalid_argument("'" + text + "': the prefix must be 0.." + std::to_string(most));
  }
  block.prefix_bits = v4 ? prefix + 96 : prefix;
  return block;
}

void address_bytes(const su_sockaddr_t& address, uint8_t (&out)[16]) {
  std::memset(out, 0, sizeof out);
  if (address.su_family == AF_INET6) {
    std::memcpy(out, &address.su_sin6.sin6_addr, 16);
  } else {
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &address.su_sin.sin_addr, 4);
  }
}

SourceLimiter::SourceLimiter(const RateLimitSettings& settings)
    : rate_(settings.requests_per_second),
      burst_(std::max<double>(1, settings.burst)),
      capacity_(std::max<size_t>(1, settings.sources)) {
  for (const auto& text : settings.exempt) exempt_.push_back(parse_address_block(text));
  index_.reserve(std::min<size_t>(capacity_, 65536));
}

bool SourceLimiter::exempt_bytes(const uint8_t (&address)[16]) const {
  return std::any_of(exempt_.begin(), exempt_.end(),
                     [&](const AddressBlock& b) { return b.contains(address); });
}

bool SourceLimiter::exempt(const su_sockaddr_t& source) const {
  uint8_t address[16];
  address_bytes(source, address);
  return exempt_bytes(address);
}

SourceLimiter::Key SourceLimiter::key_of(const uint8_t (&address)[16]) {
  Key key;
  std::memcpy(&key.high, address, 8);
  const bool v4_mapped =
      key.high == 0 && address[8] == 0 && address[9] == 0 && address[10] == 0xff && address[11] == 0xff;
  // An IPv6 host usually holds its whole /64: one bucket for it, or it
  // would have 2^64 of its own.
  if (v4_mapped) std::memcpy(&key.low, address + 8, 8);
  return key;
}

bool SourceLimiter::admit(const su_sockaddr_t& source, Clock::time_point now) {
  if (rate_ <= 0) return true;
  uint8_t address[16];
  address_bytes(source, address);
  if (!exempt_.empty() && exempt_bytes(address)) return true;
  // Shared by every loop (server.loops): a sender spread over several source
  // ports, and so over several loops, still has one bucket.
  std::lock_guard lock(mutex_);
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  Bucket& bucket = buckets_[bucket_for(key_of(address), now_ns)];
  const double elapsed_s = static_cast<double>(now_ns - bucket.refilled_ns) / 1e9;
  if (elapsed_s > 0) {
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed_s * rate_);
    bucket.refilled_ns = now_ns;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

uint32_t SourceLimiter::bucket_for(const Key& key, int64_t now_ns) {
  const auto found = index_.find(key);
  if (found != index_.end()) {
    const uint32_t slot = found->second;
    if (slot != newest_) {
      unlink(slot);
      push_newest(slot);
    }
    return slot;
  }
  uint32_t slot;
  if (buckets_.size() < capacity_) {
    slot = static_cast<uint32_t>(buckets_.size());
    buckets_.emplace_back();
  } else {  // full: the source seen longest ago makes room (a new one starts with a full bucket)
    slot = oldest_;
    unlink(slot);
    index_.erase(buckets_[slot].key);
  }
  buckets_[slot] = Bucket{key, burst_, now_ns, kNone, kNone};
  index_.emplace(key, slot);
  push_newest(slot);
  return slot;
}

void SourceLimiter::unlink(uint32_t slot) {
  Bucket& bucket = buckets_[slot];
  if (bucket.newer != kNone)
    buckets_[bucket.newer].older = bucket.older;
  else
    newest_ = bucket.older;
  if (bucket.older != kNone)
    buckets_[bucket.older].newer = bucket.newer;
  else
    oldest_ = bucket.newer;
  bucket.newer = bucket.older = kNone;
}

void SourceLimiter::push_newest(uint32_t slot) {
  Bucket& bucket = buckets_[slot];
  bucket.older = newest_;
  bucket.newer = kNone;
  if (newest_ != kNone) buckets_[newest_].newer = slot;
  newest_ = slot;
  if (oldest_ == kNone) oldest_ = slot;
}

}  // namespace homesip::core
