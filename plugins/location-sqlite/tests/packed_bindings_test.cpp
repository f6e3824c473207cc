// The index's packed records (packed_bindings.hpp) and the index built on
// them: every field survives packing, whatever its length; lists come back in
// lookup order; versions change with every replacement; the domain groups
// stay exact and sorted through replace, remove and sweep.
#include "packed_bindings.hpp"

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

using homesip::testkit::expect_same_binding;

Binding full_binding(std::string contact, int64_t expires_at) {
  Binding binding;
  binding.contact = std::move(contact);
  binding.expires_at = expires_at;
  binding.q_millis = 700;
  binding.call_id = "a84b4c76e66710@pc33.home.test";
  binding.cseq = 4294967295u;  // the largest CSeq
  binding.source = "udp:192.0.2.7:5060";
  binding.instance = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";
  binding.user_agent = "Linphone/5.2.0";
  return binding;
}

// Outlives every record the tests pack.
RecordPool& test_pool() {
  static RecordPool pool;
  return pool;
}

PackedRecordPtr pack(std::string_view aor, const BindingList& bindings, uint64_t version = 1) {
  RecordBuilder builder;
  builder.add(bindings);
  return builder.finish(aor, version, test_pool());
}

TEST(PackedRecordTest, EveryFieldSurvivesARoundTrip) {
  const Binding binding = full_binding("sip:u1@192.0.2.7:5060;transport=udp", kNow + 3600);
  const PackedRecordPtr record = pack("u1@home.test", {binding}, 42);
  EXPECT_EQ(record->aor(), "u1@home.test");
  EXPECT_EQ(record->version(), 42u);
  ASSERT_EQ(record->size(), 1u);
  EXPECT_EQ(record->expires_at(0), kNow + 3600);
  const BindingList unpacked = record->unpack();
  ASSERT_EQ(unpacked.size(), 1u);
  expect_same_binding(unpacked[0], binding);
}

// Empty texts take a one-byte length; texts of 128 bytes and more a longer
// one (LEB128), which must not shift the fields after them.
TEST(PackedRecordTest, EmptyAndLongTextsSurvive) {
  Binding empty;
  empty.contact = "sip:e@192.0.2.1";
  empty.expires_at = kNow + 60;
  empty.q_millis = 0;
  empty.cseq = 0;
  Binding long_texts = full_binding("sip:" + std::string(600, 'c') + "@192.0.2.2", kNow + 60);
  long_texts.call_id = std::string(512, 'i');
  long_texts.source = std::string(128, 's');
  long_texts.instance = std::string(127, 'n');
  long_texts.user_agent = std::string(70000, 'u');  // a three-byte length
  const std::string long_aor = std::string(1000, 'a') + "@home.test";
  const PackedRecordPtr record = pack(long_aor, {long_texts, empty});
  EXPECT_EQ(record->aor(), long_aor);
  const BindingList unpacked = record->unpack();
  ASSERT_EQ(unpacked.size(), 2u);
  expect_same_binding(unpacked[0], long_texts);  // q 700 before q 0
  expect_same_binding(unpacked[1], empty);
}

TEST(PackedRecordTest, ManyBindingsComeBackInLookupOrder) {
  BindingList bindings;
  for (int i = 0; i < 300; ++i) {
    Binding binding = full_binding("sip:d" + std::to_string(i) + "@192.0.2.3", kNow + 100 + i % 7);
    binding.q_millis = static_cast<uint16_t>(i % 3 * 500);
    binding.cseq = static_cast<uint32_t>(i);
    binding.call_id = "call-" + std::to_string(i);
    bindings.push_back(binding);
  }
  const PackedRecordPtr record = pack("many@home.test", bindings);  // packing sorts
  sort_for_lookup(bindings);
  const BindingList unpacked = record->unpack();
  ASSERT_EQ(unpacked.size(), bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) expect_same_binding(unpacked[i], bindings[i]);
}

TEST(PackedRecordTest, ExpiryIsReadInPlaceAndUnexpiredDecodesOnlyTheLiving) {
  const PackedRecordPtr record = pack(
      "u1@home.test", {full_binding("sip:old@192.0.2.1", kNow), full_binding("sip:new@192.0.2.1", kNow + 1)});
  EXPECT_TRUE(record->any_expired(kNow));
  EXPECT_TRUE(record->any_unexpired(kNow));
  EXPECT_FALSE(record->any_expired(kNow - 1));
  EXPECT_FALSE(record->any_unexpired(kNow + 1));
  const BindingList living = record->unpack_unexpired(kNow);
  ASSERT_EQ(living.size(), 1u);
  EXPECT_EQ(living[0].contact, "sip:new@192.0.2.1");
}

TEST(PackedRecordTest, ABuilderIsEmptyAndReusableAfterFinishing) {
  RecordBuilder builder;
  builder.add(BindingView::of(full_binding("sip:a@192.0.2.1", kNow + 1)));
  EXPECT_FALSE(builder.empty());
  const PackedRecordPtr first = builder.finish("a@home.test", 1, test_pool());
  EXPECT_TRUE(builder.empty());
  builder.add(BindingView::of(full_binding("sip:b@192.0.2.1", kNow + 2)));
  const PackedRecordPtr second = builder.finish("b@home.test", 2, test_pool());
  ASSERT_EQ(second->unpack().size(), 1u);
  EXPECT_EQ(second->unpack()[0].contact, "sip:b@192.0.2.1");
  EXPECT_EQ(first->unpack()[0].contact, "sip:a@192.0.2.1");
}

TEST(BindingIndexTest, ReplaceStoresAndVersionsChangeWithEveryReplacement) {
  BindingIndex index;
  EXPECT_EQ(index.version_of("u1@home.test"), 0u);
  EXPECT_TRUE(index.stored("u1@home.test")->empty());
  const Binding binding = full_binding("sip:u1@192.0.2.1", kNow + 60);
  index.replace("u1@home.test", BindingList{binding});
  const uint64_t first = index.version_of("u1@home.test");
  EXPECT_NE(first, 0u);
  ASSERT_EQ(index.stored("u1@home.test")->size(), 1u);
  expect_same_binding(index.stored("u1@home.test")->front(), binding);
  index.replace("u1@home.test", BindingList{binding});  // the same content is a new version
  EXPECT_GT(index.version_of("u1@home.test"), first);
  index.replace("u1@home.test", BindingList{});
  EXPECT_EQ(index.version_of("u1@home.test"), 0u);
  EXPECT_EQ(index.aor_count(), 0u);
  EXPECT_TRUE(index.aors_in_domain("home.test", kNow).empty());
}

// Enough AORs to grow the table many times and to erase from the middle of
// long probe runs: every AOR stays findable, every removed one is gone.
TEST(BindingIndexTest, ManyAorsStayFindableThroughGrowthAndRemoval) {
  BindingIndex index;
  constexpr int kAors = 20'000;
  for (int i = 0; i < kAors; ++i)
    index.replace("u" + std::to_string(i) + "@home.test",
                  BindingList{full_binding("sip:" + std::to_string(i) + "@192.0.2.1", kNow + 60)});
  for (int i = 0; i < kAors; i += 3) index.replace("u" + std::to_string(i) + "@home.test", BindingList{});
  EXPECT_EQ(index.aor_count(), static_cast<size_t>(kAors - (kAors + 2) / 3));
  for (int i = 0; i < kAors; ++i) {
    const SharedBindings found = index.stored("u" + std::to_string(i) + "@home.test");
    if (i % 3 == 0) {
      ASSERT_TRUE(found->empty()) << i;
    } else {
      ASSERT_EQ(found->size(), 1u) << i;
      ASSERT_EQ(found->front().contact, "sip:" + std::to_string(i) + "@192.0.2.1") << i;
    }
  }
}

std::vector<std::string> sorted(std::vector<std::string> aors) {
  std::sort(aors.begin(), aors.end());
  return aors;
}

TEST(BindingIndexTest, AorsInDomainStaySortedAndExactThroughReplaceRemoveAndSweep) {
  BindingIndex index;
  const auto put_aor = [&index](const std::string& aor, int64_t expires_at) {
    index.replace(aor, BindingList{full_binding("sip:x@192.0.2.1", expires_at)});
  };
  // Out of order, and over two domains.
  for (const char* user : {"carol", "alice", "eve", "bob", "dave"})
    put_aor(std::string(user) + "@a.test", kNow + 60);
  put_aor("zed@b.test", kNow + 60);
  EXPECT_EQ(
      index.aors_in_domain("a.test", kNow),
      (std::vector<std::string>{"alice@a.test", "bob@a.test", "carol@a.test", "dave@a.test", "eve@a.test"}));
  EXPECT_EQ(index.aors_in_domain("b.test", kNow), std::vector<std::string>{"zed@b.test"});

  index.replace("bob@a.test", BindingList{});  // the last member fills bob's place
  put_aor("carol@a.test", kNow + 120);         // a replacement keeps its place
  put_aor("aaron@a.test", kNow + 60);
  EXPECT_EQ(index.aors_in_domain("a.test", kNow),
            (std::vector<std::string>{"aaron@a.test", "alice@a.test", "carol@a.test", "dave@a.test",
                                      "eve@a.test"}));
  // Expired but not yet swept: not listed.
  put_aor("alice@a.test", kNow);
  EXPECT_EQ(index.aors_in_domain("a.test", kNow),
            (std::vector<std::string>{"aaron@a.test", "carol@a.test", "dave@a.test", "eve@a.test"}));

  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  while (!index.remove_expired(kNow + 60, 3, cursor, dropped).pass_complete) {
  }
  std::vector<std::string> dropped_aors;
  for (const ExpiredContact& gone : dropped) dropped_aors.push_back(gone.aor);
  EXPECT_EQ(sorted(dropped_aors), (std::vector<std::string>{"aaron@a.test", "alice@a.test", "dave@a.test",
                                                            "eve@a.test", "zed@b.test"}));
  EXPECT_EQ(index.aors_in_domain("a.test", kNow), std::vector<std::string>{"carol@a.test"});
  EXPECT_TRUE(index.aors_in_domain("b.test", kNow).empty());
  EXPECT_EQ(index.aor_count(), 1u);
}

// A sweep that drops some of an AOR's bindings keeps the rest, in order,
// with every field, under a new version.
TEST(BindingIndexTest, ASweepKeepsTheUnexpiredBindingsOfAnAor) {
  BindingIndex index;
  const Binding kept_first = full_binding("sip:k1@192.0.2.1", kNow + 90);
  const Binding kept_second = full_binding("sip:k2@192.0.2.1", kNow + 30);
  index.replace("u1@home.test",
                BindingList{kept_first, full_binding("sip:gone@192.0.2.1", kNow), kept_second});
  const uint64_t before = index.version_of("u1@home.test");
  SweepCursor cursor;
  std::vector<ExpiredContact> dropped;
  EXPECT_TRUE(index.remove_expired(kNow, SIZE_MAX, cursor, dropped).pass_complete);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].aor, "u1@home.test");
  EXPECT_EQ(dropped[0].contact, "sip:gone@192.0.2.1");
  EXPECT_NE(index.version_of("u1@home.test"), before);
  const SharedBindings stored = index.stored("u1@home.test");
  ASSERT_EQ(stored->size(), 2u);
  expect_same_binding((*stored)[0], kept_first);
  expect_same_binding((*stored)[1], kept_second);
  EXPECT_EQ(index.aors_in_domain("home.test", kNow), std::vector<std::string>{"u1@home.test"});
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
