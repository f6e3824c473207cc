// The records' pool (record_pool.hpp): a released slot is the next one of
// its size class, so a sweep's frees cost the allocator nothing later; what
// a sweep releases, new records of the same size take without new blocks.
#include "record_pool.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding_index.hpp"
#include "packed_bindings.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

constexpr int64_t kNow = 1'000'000;

TEST(RecordPoolTest, AReleasedSlotIsTheNextOneOfItsSizeClass) {
  RecordPool pool;
  void* first = pool.allocate(170);
  void* other_class = pool.allocate(200);
  pool.release(first, 170);
  EXPECT_NE(pool.allocate(200), first) << "a slot of 176 bytes served a request for 200";
  EXPECT_EQ(pool.allocate(161), first) << "161 and 170 bytes are both the 176-byte class";
  pool.release(other_class, 200);
  EXPECT_EQ(pool.block_count(), 1u);
}

TEST(RecordPoolTest, SlotsAreAlignedAndDistinct) {
  RecordPool pool;
  void* a = pool.allocate(24);
  void* b = pool.allocate(24);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 16, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 16, 0u);
  EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 32);
}

TEST(RecordPoolTest, ARecordLargerThanTheClassesTakesNoBlock) {
  RecordPool pool;
  void* large = pool.allocate(RecordPool::kLargestPooled + 1);
  EXPECT_EQ(pool.block_count(), 0u);
  pool.release(large, RecordPool::kLargestPooled + 1);
}

TEST(RecordPoolTest, BlocksAreTakenAsTheClassesFillThem) {
  RecordPool pool;
  const size_t per_block = RecordPool::kBlockBytes / 192;
  for (size_t i = 0; i < per_block; ++i) pool.allocate(192);
  EXPECT_EQ(pool.block_count(), 1u);
  pool.allocate(192);
  EXPECT_EQ(pool.block_count(), 2u);
}

// The record's size as its pool must be told it: header, AOR, fixed fields,
// texts with their LEB128 lengths (two bytes from 128 on).
TEST(RecordPoolTest, ARecordKnowsTheBytesItWasGiven) {
  RecordPool pool;
  RecordBuilder builder;
  Binding binding;
  binding.contact = "sip:" + std::string(200, 'c') + "@192.0.2.1";  // 214 bytes: a 2-byte length
  binding.expires_at = kNow + 60;
  binding.call_id = "abc";
  builder.add(BindingView::of(binding));
  const PackedRecordPtr record = builder.finish("u1@home.test", 1, pool);
  const size_t payload = (1 + 12) + 14 + (2 + 214) + (1 + 3) + 1 + 1 + 1;
  EXPECT_EQ(record->allocated_bytes(), sizeof(PackedRecord) + payload);
}

// What a sweep pass drops goes back to the index's pool, and as many new
// AORs of the same sizes then fit in the blocks it already has.
TEST(RecordPoolTest, TheRecordsASweepDropsAreReusedByNewOnes) {
  constexpr int kAors = 20'000;
  BindingIndex index;
  const auto add = [&index](const std::string& aor, int64_t expires_at) {
    Binding binding = make_binding("sip:a@192.0.2.1", 3600);
    binding.expires_at = expires_at;
    index.replace(aor, BindingList{binding});
  };
  for (int i = 0; i < kAors; ++i)
    add("u" + std::to_string(100'000 + i) + "@home.test", i % 2 == 0 ? kNow : kNow + 3600);
  const size_t blocks_after_fill = index.pool().block_count();
  ASSERT_GT(blocks_after_fill, 1u);

  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  while (!index.remove_expired(kNow, 1024, cursor, dropped).pass_complete) {
  }
  ASSERT_EQ(dropped.size(), static_cast<size_t>(kAors / 2));

  for (int i = 0; i < kAors / 2; ++i) add("v" + std::to_string(100'000 + i) + "@home.test", kNow + 3600);
  EXPECT_EQ(index.aor_count(), static_cast<size_t>(kAors));
  EXPECT_EQ(index.pool().block_count(), blocks_after_fill);
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
