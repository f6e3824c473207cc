// describe_change: which rows an edit removes and which it writes, for the
// common short lists (scanned) and long ones (looked up through a hash table).
#include <gtest/gtest.h>

#include <algorithm>

#include "sqlite_writer.hpp"
#include "test_support.hpp"

namespace homesip::location_sqlite::testing {
namespace {

BindingList numbered(int from, int to) {
  BindingList bindings;
  for (int i = from; i < to; ++i)
    bindings.push_back(make_binding("sip:" + std::to_string(i) + "@192.0.2.1", 600));
  return bindings;
}

std::vector<std::string> upserted_contacts(const PendingWrite& write) {
  std::vector<std::string> contacts;
  for (const uint32_t position : write.upserted) contacts.push_back((*write.bindings)[position].contact);
  std::sort(contacts.begin(), contacts.end());
  return contacts;
}

std::vector<std::string> sorted(std::vector<std::string> contacts) {
  std::sort(contacts.begin(), contacts.end());
  return contacts;
}

// Removes contact `gone`, refreshes `refreshed`, adds `added` to `before`.
void check_change(int size) {
  SCOPED_TRACE("lists of " + std::to_string(size));
  const BindingList before = numbered(0, size);
  // Copies of `before`'s rows, so only the changes below differ (bindings
  // made anew could straddle a second and all get another expiry).
  BindingList after(before.begin() + 1, before.end());  // 0 removed
  after.push_back(numbered(size, size + 1).front());    // `size` added
  after[0].cseq += 1;                                   // contact 1 refreshed
  const PendingWrite write = describe_change("u@home.test", before, after);
  EXPECT_EQ(write.removed_contacts, std::vector<std::string>{"sip:0@192.0.2.1"});
  EXPECT_EQ(upserted_contacts(write),
            sorted({"sip:1@192.0.2.1", "sip:" + std::to_string(size) + "@192.0.2.1"}));
  EXPECT_EQ(write.bindings->size(), static_cast<size_t>(size));
}

TEST(DescribeChangeTest, ShortListsWriteOnlyWhatChanged) { check_change(2); }

TEST(DescribeChangeTest, LongListsWriteOnlyWhatChanged) {
  check_change(9);
  check_change(5000);  // quadratic, this took 25 million comparisons
}

TEST(DescribeChangeTest, UnchangedLongListWritesNothing) {
  const BindingList bindings = numbered(0, 100);
  const PendingWrite write = describe_change("u@home.test", bindings, bindings);
  EXPECT_TRUE(write.removed_contacts.empty());
  EXPECT_TRUE(write.upserted.empty());
}

TEST(DescribeChangeTest, EmptiedListRemovesEveryRow) {
  const PendingWrite write = describe_change("u@home.test", numbered(0, 20), {});
  EXPECT_EQ(write.removed_contacts.size(), 20u);
  EXPECT_TRUE(write.upserted.empty());
}

}  // namespace
}  // namespace homesip::location_sqlite::testing
