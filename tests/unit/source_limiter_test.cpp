// server.rate_limit's token bucket per source, its bounded table and its
// exempt blocks; server.overload's lag and jittered Retry-After.
#include "source_limiter.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "overload_guard.hpp"

using homesip::core::OverloadGuard;
using homesip::core::OverloadSettings;
using homesip::core::parse_address_block;
using homesip::core::RateLimitSettings;
using homesip::core::SourceLimiter;
using namespace std::chrono_literals;

namespace {

su_sockaddr_t address(const std::string& ip) {
  su_sockaddr_t a{};
  if (ip.find(':') != std::string::npos) {
    a.su_family = AF_INET6;
    inet_pton(AF_INET6, ip.c_str(), &a.su_sin6.sin6_addr);
  } else {
    a.su_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &a.su_sin.sin_addr);
  }
  return a;
}

RateLimitSettings settings(uint32_t rate, uint32_t burst, size_t sources = 1024) {
  RateLimitSettings s;
  s.requests_per_second = rate;
  s.burst = burst;
  s.sources = sources;
  s.exempt = {};
  return s;
}

// How many of `count` messages sent at `now` are admitted.
int admitted(SourceLimiter& limiter, const su_sockaddr_t& from, int count,
             SourceLimiter::Clock::time_point now) {
  int n = 0;
  for (int i = 0; i < count; ++i) n += limiter.admit(from, now) ? 1 : 0;
  return n;
}

const SourceLimiter::Clock::time_point kStart{std::chrono::seconds(1000)};

}  // namespace

TEST(SourceLimiter, ABurstThenTheRate) {
  SourceLimiter limiter(settings(10, 20));
  const auto from = address("192.0.2.1");
  EXPECT_EQ(admitted(limiter, from, 50, kStart), 20) << "a new source starts with a full bucket";
  EXPECT_EQ(admitted(limiter, from, 50, kStart + 500ms), 5) << "10/s refills 5 in half a second";
  EXPECT_EQ(admitted(limiter, from, 50, kStart + 10s), 20) << "never more than the burst";
}

TEST(SourceLimiter, SourcesHaveBucketsOfTheirOwn) {
  SourceLimiter limiter(settings(1, 3));
  EXPECT_EQ(admitted(limiter, address("192.0.2.1"), 10, kStart), 3);
  EXPECT_EQ(admitted(limiter, address("192.0.2.2"), 10, kStart), 3) << "a flooder does not starve others";
  EXPECT_EQ(limiter.tracked(), 2u);
}

TEST(SourceLimiter, AnIpv6HostIsOneBucketPerSlash64) {
  SourceLimiter limiter(settings(1, 3));
  EXPECT_EQ(admitted(limiter, address("2001:db8:1:2::1"), 2, kStart), 2);
  EXPECT_EQ(admitted(limiter, address("2001:db8:1:2::ffff"), 2, kStart), 1) << "same /64";
  EXPECT_EQ(admitted(limiter, address("2001:db8:1:3::1"), 2, kStart), 2) << "another /64";
}

TEST(SourceLimiter, TheTableIsBoundedAndForgetsTheSourceSeenLongestAgo) {
  SourceLimiter limiter(settings(1, 2, 16));
  const auto flooder = address("192.0.2.1");
  EXPECT_EQ(admitted(limiter, flooder, 5, kStart), 2);
  for (int i = 0; i < 15; ++i) limiter.admit(address("198.51.100." + std::to_string(i)), kStart);
  EXPECT_EQ(limiter.tracked(), 16u);
  EXPECT_EQ(admitted(limiter, flooder, 1, kStart), 0) << "still tracked: the table holds 16";
  limiter.admit(address("198.51.100.0"), kStart);  // refreshes .0; the oldest is now .1
  limiter.admit(address("203.0.113.1"), kStart);   // a 17th source: .1 makes room
  EXPECT_EQ(limiter.tracked(), 16u);
  EXPECT_EQ(admitted(limiter, address("198.51.100.1"), 5, kStart), 2) << "forgotten: a full bucket again";
  EXPECT_EQ(admitted(limiter, flooder, 1, kStart), 0) << "seen recently, so kept and still empty";
}

TEST(SourceLimiter, ExemptBlocksAreNeverLimited) {
  RateLimitSettings s = settings(1, 1);
  s.exempt = {"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"};
  SourceLimiter limiter(s);
  EXPECT_EQ(admitted(limiter, address("10.200.3.4"), 100, kStart), 100);
  EXPECT_EQ(admitted(limiter, address("192.0.2.7"), 100, kStart), 100);
  EXPECT_EQ(admitted(limiter, address("2001:db8:ffff::1"), 100, kStart), 100);
  EXPECT_EQ(admitted(limiter, address("11.0.0.1"), 100, kStart), 1);
  EXPECT_EQ(admitted(limiter, address("192.0.2.8"), 100, kStart), 1);
  EXPECT_EQ(limiter.tracked(), 2u) << "exempt sources take no room in the table";
}

TEST(SourceLimiter, TheDefaultsExemptLoopbackAndLimitOthers) {
  SourceLimiter limiter{RateLimitSettings{}};
  EXPECT_TRUE(limiter.exempt(address("127.0.0.1")));
  EXPECT_TRUE(limiter.exempt(address("127.9.9.9")));
  EXPECT_TRUE(limiter.exempt(address("::1")));
  EXPECT_FALSE(limiter.exempt(address("192.0.2.1")));
  EXPECT_EQ(admitted(limiter, address("192.0.2.1"), 1000, kStart), 200) << "burst 200";
}

TEST(SourceLimiter, RateZeroLimitsNothing) {
  SourceLimiter limiter(settings(0, 1));
  EXPECT_EQ(admitted(limiter, address("192.0.2.1"), 1000, kStart), 1000);
}

TEST(AddressBlock, ParsesAddressesAndPrefixesAndRefusesTheRest) {
  uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 16, 5, 1};
  EXPECT_TRUE(parse_address_block("172.16.0.0/12").contains(v4));
  EXPECT_FALSE(parse_address_block("172.32.0.0/12").contains(v4));
  EXPECT_TRUE(parse_address_block("0.0.0.0/0").contains(v4));
  EXPECT_TRUE(parse_address_block("172.16.5.1").contains(v4));
  EXPECT_FALSE(parse_address_block("172.16.5.2").contains(v4));
  for (const char* bad : {"", "host.example", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x"})
    EXPECT_THROW(parse_address_block(bad), std::invalid_argument) << bad;
}

TEST(OverloadGuard, PendingRequestsAndALateLoopShed) {
  OverloadSettings s;
  s.max_pending = 100;
  s.max_loop_lag = 500ms;
  OverloadGuard guard(s);
  EXPECT_FALSE(guard.overloaded(99, 0ms));
  EXPECT_TRUE(guard.overloaded(100, 0ms));
  const auto t = OverloadGuard::Clock::time_point{} + 1000s;
  guard.tick(t);
  guard.tick(t + OverloadGuard::kTick + 100ms);
  EXPECT_EQ(guard.loop_lag(), 100ms);
  EXPECT_FALSE(guard.overloaded(0, 0ms));
  guard.tick(t + 2 * OverloadGuard::kTick + 100ms + 600ms);
  EXPECT_EQ(guard.loop_lag(), 600ms);
  EXPECT_TRUE(guard.overloaded(0, 0ms)) << "a stall of 600 ms";
  guard.tick(t + 3 * OverloadGuard::kTick + 700ms);
  EXPECT_FALSE(guard.overloaded(0, 0ms)) << "the next tick on time ends it";
}

TEST(OverloadGuard, ADatagramQueuedPastMaxQueueDelayIsShedUnlessNotWatched) {
  OverloadSettings s;
  s.max_queue_delay = 250ms;
  OverloadGuard watched(s);
  EXPECT_FALSE(watched.overloaded(0, 249ms));
  EXPECT_TRUE(watched.overloaded(0, 250ms));
  s.max_queue_delay = 0ms;
  OverloadGuard not_watched(s);
  EXPECT_FALSE(not_watched.overloaded(0, 60s));
}

TEST(OverloadGuard, RetryAfterIsJitteredWithinItsRange) {
  OverloadSettings s;
  s.retry_after_min_s = 5;
  s.retry_after_max_s = 10;
  OverloadGuard guard(s);
  bool seen[11] = {};
  for (int i = 0; i < 1000; ++i) {
    const uint32_t value = guard.retry_after();
    ASSERT_GE(value, 5u);
    ASSERT_LE(value, 10u);
    seen[value] = true;
  }
  for (uint32_t v = 5; v <= 10; ++v) EXPECT_TRUE(seen[v]) << v << " never drawn in 1000";
}
