// WakeCoalescer (server.udp_coalesce_us): when a loop woken by datagrams
// pauses before it waits again, on a clock the test sets.
#include "wake_coalescer.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using homesip::core::WakeCoalescer;
using std::chrono::microseconds;
using Time = WakeCoalescer::Clock::time_point;

Time at(int64_t us) { return Time(microseconds(1'000'000'000 + us)); }

TEST(WakeCoalescer, DatagramsOneWindowApartOrMoreNeverPause) {
  WakeCoalescer coalescer(microseconds(1000));
  for (int64_t t = 0; t < 10'000; t += 1000) {
    coalescer.on_datagrams(at(t), 1);
    EXPECT_EQ(coalescer.pause_until(at(t + 20)), std::nullopt) << "wake at " << t << " us";
  }
}

TEST(WakeCoalescer, DatagramsWithinAWindowPauseUntilAWindowAfterTheWake) {
  WakeCoalescer coalescer(microseconds(1000));
  coalescer.on_datagrams(at(0), 1);
  EXPECT_EQ(coalescer.pause_until(at(30)), std::nullopt);  // the first wake: no rate known yet
  coalescer.on_datagrams(at(500), 1);                      // 2000/s
  EXPECT_EQ(coalescer.pause_until(at(530)), at(1500));
  // After the pause the loop wakes at once for what came during it, a little
  // past the window: still busy, so it pauses again, one window per read.
  coalescer.on_datagrams(at(1520), 2);
  EXPECT_EQ(coalescer.pause_until(at(1560)), at(2520));
  coalescer.on_datagrams(at(2530), 2);
  EXPECT_EQ(coalescer.pause_until(at(2600)), at(3530));
  // Nothing came during that pause: the next datagram, two windows later,
  // is read at once and the loop waits.
  coalescer.on_datagrams(at(5600), 1);
  EXPECT_EQ(coalescer.pause_until(at(5640)), std::nullopt);
}

TEST(WakeCoalescer, ALoopBehindItsSocketsDoesNotPause) {
  WakeCoalescer coalescer(microseconds(1000));
  coalescer.on_datagrams(at(0), 1);
  coalescer.pause_until(at(10));
  coalescer.on_datagrams(at(200), 32);
  coalescer.on_backlog();  // the read stopped with datagrams still queued
  EXPECT_EQ(coalescer.pause_until(at(900)), std::nullopt);
  // Work that outlasts the window: nothing left to pause for.
  coalescer.on_datagrams(at(1000), 5);
  EXPECT_EQ(coalescer.pause_until(at(2100)), std::nullopt);
}

TEST(WakeCoalescer, OnlyADatagramWakePauses) {
  WakeCoalescer coalescer(microseconds(1000));
  coalescer.on_datagrams(at(0), 1);
  coalescer.pause_until(at(10));
  coalescer.on_datagrams(at(300), 1);
  coalescer.on_datagrams(at(320), 1);  // a second socket of the loop, same round: one wake
  EXPECT_EQ(coalescer.pause_until(at(400)), at(1300));
  // A timer or a posted task before the next datagram: no pause.
  EXPECT_EQ(coalescer.pause_until(at(1400)), std::nullopt);
}

// A sender that waits for each answer sends its next request during the
// pause: every pause brings one datagram and saves nothing, so after two such
// pauses the loop stops pausing for 64 windows, then tries again.
TEST(WakeCoalescer, ASenderWaitingForEachAnswerIsNotHeldBack) {
  WakeCoalescer coalescer(microseconds(1000));
  coalescer.on_datagrams(at(0), 1);
  EXPECT_EQ(coalescer.pause_until(at(50)), std::nullopt);
  coalescer.on_datagrams(at(100), 1);  // the next request, right after the answer
  EXPECT_EQ(coalescer.pause_until(at(150)), at(1100));
  coalescer.on_datagrams(at(1110), 1);  // one came during the pause
  EXPECT_EQ(coalescer.pause_until(at(1160)), at(2110));
  coalescer.on_datagrams(at(2120), 1);  // one again: no more pauses
  EXPECT_EQ(coalescer.pause_until(at(2170)), std::nullopt);
  int64_t t = 2220;
  for (; t + 50 < 2170 + 64'000; t += 100) {
    coalescer.on_datagrams(at(t), 1);
    ASSERT_EQ(coalescer.pause_until(at(t + 50)), std::nullopt) << "wake at " << t << " us";
  }
  coalescer.on_datagrams(at(t), 1);
  EXPECT_EQ(coalescer.pause_until(at(t + 50)), at(t + 1000));  // tried again
}

// One lean pause among full ones (arrival jitter) does not stop the pauses.
TEST(WakeCoalescer, OneLeanPauseAmongFullOnesKeepsPausing) {
  WakeCoalescer coalescer(microseconds(1000));
  coalescer.on_datagrams(at(0), 1);
  coalescer.pause_until(at(10));
  coalescer.on_datagrams(at(500), 1);
  EXPECT_EQ(coalescer.pause_until(at(520)), at(1500));
  coalescer.on_datagrams(at(1510), 1);  // lean
  EXPECT_EQ(coalescer.pause_until(at(1530)), at(2510));
  coalescer.on_datagrams(at(2520), 3);  // full again
  EXPECT_EQ(coalescer.pause_until(at(2540)), at(3520));
  coalescer.on_datagrams(at(3530), 1);  // lean, but not two in a row
  EXPECT_EQ(coalescer.pause_until(at(3550)), at(4530));
}

TEST(WakeCoalescer, AZeroWindowIsOff) {
  WakeCoalescer coalescer(microseconds(0));
  for (int64_t t = 0; t < 100; t += 10) {
    coalescer.on_datagrams(at(t), 8);
    EXPECT_EQ(coalescer.pause_until(at(t + 1)), std::nullopt);
  }
}

}  // namespace
