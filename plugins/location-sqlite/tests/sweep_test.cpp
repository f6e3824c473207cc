// The expiry sweep in slices (BindingIndex::remove_expired with a budget):
// each slice's work is bounded by count whatever the index holds, and a pass
// of slices drops exactly what one walk over everything would.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "binding_index.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

constexpr int64_t kNow = 1'000'000;

// `count` AORs of one binding each; every other one expired at kNow.
BindingIndex index_of(int count) {
  BindingIndex index;
  for (int i = 0; i < count; ++i) {
    Binding binding = make_binding("sip:a@192.0.2.1", 3600);
    binding.expires_at = i % 2 == 0 ? kNow : kNow + 3600;
    index.replace("u" + std::to_string(i) + "@home.test", BindingList{binding});
  }
  return index;
}

TEST(SweepSliceTest, EachSliceOfALargeIndexIsBoundedAndAPassDropsEveryExpiredBinding) {
  constexpr int kAors = 200'000;
  constexpr size_t kBudget = 1000;
  BindingIndex index = index_of(kAors);
  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  size_t slices = 0;
  size_t most_work = 0;
  for (bool complete = false; !complete; ++slices) {
    ASSERT_LT(slices, 10u * kAors) << "the pass never completes";
    const size_t dropped_before = dropped.size();
    const BindingIndex::SweepSlice slice = index.remove_expired(kNow, kBudget, cursor, dropped);
    most_work = std::max(most_work, slice.work);
    // The budget is checked between buckets: a slice may finish the bucket
    // it started, a few AORs at most. Dropping costs more than looking.
    EXPECT_LE(slice.work, kBudget + 200);
    EXPECT_LE(dropped.size() - dropped_before, kBudget / 16 + 10);
    complete = slice.pass_complete;
  }
  RecordProperty("slices", static_cast<int>(slices));
  RecordProperty("most_work", static_cast<int>(most_work));
  // Every bucket and every binding cost one: at least that many slices.
  EXPECT_GE(slices, static_cast<size_t>(kAors) / kBudget);
  EXPECT_EQ(dropped.size(), static_cast<size_t>(kAors / 2));
  EXPECT_EQ(index.aor_count(), static_cast<size_t>(kAors / 2));
  EXPECT_TRUE(index.stored("u0@home.test")->empty());
  EXPECT_EQ(index.stored("u1@home.test")->size(), 1u);

  // The cursor starts over: the next pass finds nothing more to drop.
  dropped.clear();
  for (bool complete = false; !complete;)
    complete = index.remove_expired(kNow, kBudget, cursor, dropped).pass_complete;
  EXPECT_TRUE(dropped.empty());
}

TEST(SweepSliceTest, AnUnboundedBudgetIsOnePass) {
  BindingIndex index = index_of(1000);
  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  const BindingIndex::SweepSlice slice = index.remove_expired(kNow, SIZE_MAX, cursor, dropped);
  EXPECT_TRUE(slice.pass_complete);
  EXPECT_EQ(dropped.size(), 500u);
  EXPECT_EQ(index.aors_in_domain("home.test", kNow).size(), 500u);
}

// An AOR left without bindings leaves its domain's list too.
TEST(SweepSliceTest, AnAorWhoseBindingsAllExpiredIsForgotten) {
  BindingIndex index = index_of(2);
  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  while (!index.remove_expired(kNow, 1, cursor, dropped).pass_complete) {
  }
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].aor, "u0@home.test");
  EXPECT_EQ(dropped[0].contact, "sip:a@192.0.2.1");
  EXPECT_EQ(index.aors_in_domain("home.test", kNow - 1), (std::vector<std::string>{"u1@home.test"}));
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
