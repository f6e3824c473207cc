// Per-source rate limits before parsing (server.rate_limit), like Kamailio's
// pike: a token bucket per source address in a bounded table, so one sender
// cannot take the loop's time from everyone else. Checked on the raw bytes'
// source only, before sofia-sip parses anything: a message over its source's
// rate costs a table lookup.
#pragma once

#include <sofia-sip/su.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace homesip::core {

// An address block ("192.0.2.0/24", "2001:db8::/32", or one address), kept
// as IPv6: an IPv4 block is its IPv4-mapped form (::ffff:0:0/96 + prefix).
struct AddressBlock {
  uint8_t bytes[16] = {};
  unsigned prefix_bits = 0;  // of the 128
  bool contains(const uint8_t (&address)[16]) const;
};

// Parses "ADDRESS" or "ADDRESS/PREFIX". Throws std::invalid_argument saying what is wrong.
AddressBlock parse_address_block(const std::string& text);

// `address` as 16 bytes of IPv6 (IPv4: its mapped form).
void address_bytes(const su_sockaddr_t& address, uint8_t (&out)[16]);

// server.rate_limit.
struct RateLimitSettings {
  enum class Action { kDrop, kReply503 };
  uint32_t requests_per_second = 100;  // 0: no limit
  uint32_t burst = 200;                // the bucket's size: what a quiet source may send at once
  Action action = Action::kDrop;
  size_t sources = 65536;  // sources tracked; the least recently seen one makes room
  std::vector<std::string> exempt{"127.0.0.0/8", "::1/128"};
};

class SourceLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Throws std::invalid_argument for an exempt entry that is no address block.
  explicit SourceLimiter(const RateLimitSettings& settings);

  // Whether one more message from `source` may go on at `now`; false when
  // its bucket is empty. IPv6 sources share a bucket per /64, which one host
  // usually holds whole.
  bool admit(const su_sockaddr_t& source, Clock::time_point now);
  // Whether `source` is in an exempt block (never limited).
  bool exempt(const su_sockaddr_t& source) const;
  // Sources in the table now (at most settings.sources).
  size_t tracked() const {
    std::lock_guard lock(mutex_);
    return index_.size();
  }

 private:
  struct Key {
    uint64_t high = 0;
    uint64_t low = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      return static_cast<size_t>((key.high * 0x9e3779b97f4a7c15ull) ^ (key.low * 0xc2b2ae3d27d4eb4full));
    }
  };
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Bucket {
    Key key;
    double tokens = 0;
    int64_t refilled_ns = 0;
    uint32_t newer = kNone;  // towards the most recently seen
    uint32_t older = kNone;
  };

  static Key key_of(const uint8_t (&address)[16]);
  bool exempt_bytes(const uint8_t (&address)[16]) const;
  uint32_t bucket_for(const Key& key, int64_t now_ns);
  void unlink(uint32_t slot);
  void push_newest(uint32_t slot);

  double rate_;
  double burst_;
  size_t capacity_;
  std::vector<AddressBlock> exempt_;
  std::vector<Bucket> buckets_;
  mutable std::mutex mutex_;  // the table: admit() comes from every loop
  std::unordered_map<Key, uint32_t, KeyHash> index_;
  uint32_t newest_ = kNone;
  uint32_t oldest_ = kNone;
};

}  // namespace homesip::core
